/// The EXIF orientation OpenCV applies to a JPEG, from its `Exif\0\0` APP1 segments — or, where that
/// cannot be told safely, the segments' bytes.
///
/// OpenCV reads every APP1 segment that starts exactly `Exif\0\0` and comes before the first scan, in
/// file order, into one table where the first entry for a tag wins; so the first segment that has an
/// orientation decides, and segments without one change nothing. This type follows that rule only over
/// segments ``EXIFOrientation`` proves OpenCV reads to the end: it records the deciding orientation, and
/// from the first segment it cannot read on it records each later segment's bytes (as also every
/// unreadable segment after the decision). ``fields`` is what the key counts; an orientation of 1 that
/// nothing follows is left out, so EXIF saying 1 and no EXIF at all key the same.
struct JPEGOrientation {
    private enum State {
        /// No segment has decided the orientation yet.
        case undecided
        /// A readable segment decided it; later readable segments cannot change it.
        case decided
        /// A segment could not be read: what it set is unknown, so every later segment counts.
        case unknown
    }

    private var state = State.undecided
    private var entries: [[UInt8]] = []
    /// The orientation that decided, for notes.
    private(set) var orientation: UInt16?
    /// Segments keyed on their bytes.
    private(set) var unreadable = 0
    /// Readable segments that did not change the outcome.
    private(set) var ignored = 0

    /// Takes the payload of an APP1 segment that starts `Exif\0\0` and precedes the first scan.
    mutating func add(_ payload: UnsafeBufferPointer<UInt8>) {
        let tiff = UnsafeBufferPointer(rebasing: payload.dropFirst(6))
        let outcome = EXIFOrientation.read(tiff)
        switch (state, outcome) {
        case (.undecided, .absent), (.decided, .absent), (.decided, .value):
            ignored += 1
        case (.undecided, .value(let value)):
            entries += [Array("orientation".utf8), [UInt8(value >> 8), UInt8(value & 0xFF)]]
            orientation = value
            state = .decided
        case (.undecided, .unreadable), (.decided, .unreadable), (.unknown, _):
            entries += [Array("exif".utf8), Array(payload)]
            unreadable += 1
            if state == .undecided { state = .unknown }
        }
    }

    /// The counted entries, as one ``KeyEncoding``: label and value pairs in file order.
    var encoded: [UInt8] {
        var fields = entries
        if fields.count == 2, orientation == 1 { fields = [] }
        return KeyEncoding.encode(fields: fields)
    }
}
