/// Reads the orientation tag (0x0112) from IFD0 of a TIFF structure, as EXIF carries it.
///
/// Bounds-checked against the buffer; both byte orders. Never follows more than IFD0.
enum EXIFOrientation {
    enum Outcome: Equatable {
        /// IFD0 has a single SHORT orientation tag with this value.
        case value(UInt16)
        /// IFD0 has no orientation tag: the image is shown as stored (same as 1).
        case absent
        /// The structure could not be read safely, or the tag is not one plain SHORT.
        case unreadable
    }

    static let tag: UInt16 = 0x0112

    /// Parses the TIFF header and IFD0 of `tiff` (the bytes after `Exif\0\0` in a JPEG, or a PNG `eXIf`).
    static func read(_ tiff: UnsafeBufferPointer<UInt8>) -> Outcome {
        guard tiff.count >= 8 else { return .unreadable }
        let bigEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): bigEndian = false
        case (0x4D, 0x4D): bigEndian = true
        default: return .unreadable
        }
        func u16(_ at: Int) -> UInt16 {
            bigEndian ? UInt16(tiff[at]) << 8 | UInt16(tiff[at + 1]) : UInt16(tiff[at + 1]) << 8 | UInt16(tiff[at])
        }
        func u32(_ at: Int) -> UInt32 {
            bigEndian
                ? UInt32(u16(at)) << 16 | UInt32(u16(at + 2))
                : UInt32(u16(at + 2)) << 16 | UInt32(u16(at))
        }
        guard u16(2) == 42 else { return .unreadable }
        let ifd = Int(u32(4))
        guard ifd >= 8, ifd <= tiff.count - 2 else { return .unreadable }
        let entries = Int(u16(ifd))
        guard entries <= (tiff.count - ifd - 2) / 12 else { return .unreadable }
        var found: Outcome = .absent
        for index in 0..<entries {
            let entry = ifd + 2 + index * 12
            guard u16(entry) == tag else { continue }
            // A second orientation tag is ambiguous: readers disagree on which wins.
            guard found == .absent, u16(entry + 2) == 3, u32(entry + 4) == 1 else { return .unreadable }
            found = .value(u16(entry + 8))
        }
        return found
    }
}
