import Crypto

/// Walks a JPEG's segments: what the decoder reads, what the key counts as bytes, and what it ignores.
///
/// ``read(_:)`` validates the segment structure and lists, in file order, the **records** a key is made of:
/// every segment that is not APPn or COM (DQT, DHT, DAC, SOFn, DRI, DNL, SOS headers, …) with its marker,
/// and each scan's entropy-coded data including RST markers (the *decoding* records, which
/// ``JPEGCoefficients`` reads); APP2 `ICC_PROFILE` and APP14 `Adobe` segments in full; `Exif\0\0` APP1 and
/// `JFIF` APP0 segments after the first scan in full. Then a summary of what the decoder reads before the
/// first scan: whether a `JFIF` APP0 segment libjpeg recognises (14 bytes or more) is present — it decides
/// the colour space of three-component files — and the EXIF orientation OpenCV applies
/// (``JPEGOrientation``). Not counted: EXIF fields other than the orientation, XMP, IPTC/Photoshop (APP13),
/// comments, other APPn (including APP1 segments that do not start exactly `Exif\0\0`, which OpenCV does not
/// read), fill bytes before markers, and anything after EOI.
///
/// ``segmentDigest(_:bytes:)`` hashes all records (scheme version 4's JPEG digest, now the fallback);
/// ``JPEGCoefficients`` replaces the decoding records by the frame and the DCT coefficients.
enum JPEGFile {
    struct Malformed: Error, Equatable {
        let reason: String
    }

    /// One counted piece of the file: a segment's payload or a scan's entropy-coded data.
    struct Record {
        /// The marker byte, or `01` for entropy-coded data.
        var kind: UInt8
        /// Where the bytes are in the file.
        var range: Range<Int>
        /// The decoder reads it for the image data (tables, frame, scans); otherwise it is metadata
        /// counted in full (ICC profile, Adobe transform, late EXIF or JFIF).
        var isDecoding: Bool
    }

    /// The record kind of a scan's entropy-coded data.
    static let scanDataKind: UInt8 = 1

    struct Summary {
        var records: [Record] = []
        /// The last record's bytes (kind `00`): `KeyEncoding.encode([[J], O])`.
        var colourFacts: [UInt8] = []
        var width = 0
        var height = 0
        var components = 0
        var frame = "baseline"
        var ignored: [String] = []
        var orientation: String?
        var counted: [String] = []
        var trailingBytes = 0
    }

    static func isJPEG(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    private static let exifHeader: [UInt8] = Array("Exif\0\0".utf8)
    /// libjpeg reads an APP0 segment as JFIF only if it has at least this many bytes of payload.
    private static let jfifMinimumLength = 14
    private static let jfifHeader: [UInt8] = Array("JFIF\0".utf8)
    private static let iccHeader: [UInt8] = Array("ICC_PROFILE\0".utf8)
    private static let adobeHeader: [UInt8] = Array("Adobe".utf8)
    private static let xmpHeader: [UInt8] = Array("http://ns.adobe.com/".utf8)

    /// Hashes one record: its kind, its length as 8 bytes big-endian, its bytes.
    static func hash(record kind: UInt8, _ data: UnsafeRawBufferPointer, into hasher: inout SHA256) {
        hash(record: kind, length: data.count, into: &hasher)
        hasher.update(bufferPointer: data)
    }

    /// Hashes a record's kind and length; its `length` bytes must follow.
    static func hash(record kind: UInt8, length: Int, into hasher: inout SHA256) {
        var header = [kind]
        for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift))) }
        hasher.update(data: header)
    }

    /// The digest of scheme version 4: every record, then the colour facts.
    static func segmentDigest(_ summary: Summary, bytes: UnsafeBufferPointer<UInt8>) -> SHA256.Digest {
        var hasher = SHA256()
        for record in summary.records {
            hash(record: record.kind, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[record.range]), into: &hasher)
        }
        summary.colourFacts.withUnsafeBytes { hash(record: 0, $0, into: &hasher) }
        return hasher.finalize()
    }

    static func read(_ bytes: UnsafeBufferPointer<UInt8>) throws(Malformed) -> Summary {
        guard isJPEG(bytes) else { throw Malformed(reason: "no SOI marker") }
        var summary = Summary()
        func record(_ kind: UInt8, _ range: Range<Int>, decoding: Bool) {
            summary.records.append(Record(kind: kind, range: range, isDecoding: decoding))
        }
        var sawJFIF = false
        var sawFrame = false
        var sawScan = false
        var orientation = JPEGOrientation()
        var ignored: [String: Int] = [:]
        var ignoredOrder: [String] = []
        func ignore(_ what: String) {
            if ignored[what] == nil { ignoredOrder.append(what) }
            ignored[what, default: 0] += 1
        }
        let count = bytes.count
        var position = 2
        while true {
            guard position < count, bytes[position] == 0xFF else {
                throw Malformed(reason: position >= count ? "no EOI marker" : "expected a marker at offset \(position)")
            }
            while position < count, bytes[position] == 0xFF { position += 1 }
            guard position < count else { throw Malformed(reason: "no EOI marker") }
            let marker = bytes[position]
            position += 1
            switch marker {
            case 0xD9:
                summary.trailingBytes = count - position
                guard sawFrame else { throw Malformed(reason: "EOI before any frame") }
                summary.colourFacts = KeyEncoding.encode(fields: [[sawJFIF ? 1 : 0], orientation.encoded])
                if let value = orientation.orientation, value != 1 { summary.orientation = "EXIF orientation \(value)" }
                if orientation.unreadable > 0 {
                    summary.counted.append(orientation.unreadable == 1 ? "unreadable EXIF" : "\(orientation.unreadable) × unreadable EXIF")
                }
                summary.ignored = ignoredOrder.map { ignored[$0]! == 1 ? $0 : "\(ignored[$0]!) × \($0)" }
                return summary
            case 0x00, 0x01, 0xD0...0xD8:
                throw Malformed(reason: "unexpected marker FF\(hex(marker)) at offset \(position - 2)")
            default:
                break
            }
            guard count - position >= 2 else { throw Malformed(reason: "truncated segment at offset \(position - 2)") }
            let length = Int(bytes[position]) << 8 | Int(bytes[position + 1])
            guard length >= 2, length <= count - position else {
                throw Malformed(reason: "truncated segment FF\(hex(marker)) at offset \(position - 2)")
            }
            let payloadRange = position + 2..<position + length
            let payload = UnsafeBufferPointer(rebasing: bytes[payloadRange])
            position += length
            switch marker {
            case 0xE0...0xEF, 0xFE:
                switch marker {
                case 0xE0 where sawScan && payload.starts(with: jfifHeader.prefix(4)):
                    // Read after the colour space was chosen; counted rather than reasoned about.
                    record(0xE0, payloadRange, decoding: false)
                    if !summary.counted.contains("JFIF after the first scan") { summary.counted.append("JFIF after the first scan") }
                case 0xE0 where payload.count >= jfifMinimumLength && payload.starts(with: jfifHeader):
                    sawJFIF = true
                case 0xE1 where payload.starts(with: exifHeader) && sawScan:
                    // OpenCV reads EXIF only before the first scan; counted rather than reasoned about.
                    record(0xE1, payloadRange, decoding: false)
                    if !summary.counted.contains("EXIF after the first scan") { summary.counted.append("EXIF after the first scan") }
                case 0xE1 where payload.starts(with: exifHeader):
                    let decidedBefore = orientation.orientation != nil, unreadableBefore = orientation.unreadable
                    orientation.add(payload)
                    if orientation.unreadable == unreadableBefore {
                        // Read: the segment that decided has only its orientation counted; others nothing.
                        let decidedHere = !decidedBefore && orientation.orientation != nil
                        ignore(decidedHere ? "EXIF fields other than the orientation" : "EXIF")
                    }
                case 0xE1 where payload.starts(with: xmpHeader):
                    ignore("XMP")
                case 0xE2 where payload.starts(with: iccHeader):
                    record(0xE2, payloadRange, decoding: false)
                    if !summary.counted.contains("ICC profile") { summary.counted.append("ICC profile") }
                case 0xEE where payload.starts(with: adobeHeader):
                    record(0xEE, payloadRange, decoding: false)
                    summary.counted.append("Adobe colour transform")
                case 0xED:
                    ignore("IPTC/Photoshop (APP13)")
                case 0xFE:
                    ignore("comment")
                default:
                    ignore("APP\(marker - 0xE0)")
                }
            case 0xDA:
                guard sawFrame else { throw Malformed(reason: "a scan before the frame header") }
                sawScan = true
                record(marker, payloadRange, decoding: true)
                let start = position
                // Entropy-coded data runs to the first marker that is not RST0-7 or a stuffed 0xFF00.
                while true {
                    guard position < count else { throw Malformed(reason: "scan data without EOI") }
                    if bytes[position] != 0xFF {
                        position += 1
                        continue
                    }
                    var next = position + 1
                    while next < count, bytes[next] == 0xFF { next += 1 }
                    guard next < count else { throw Malformed(reason: "scan data without EOI") }
                    if bytes[next] == 0x00 || (0xD0...0xD7).contains(bytes[next]) {
                        position = next + 1
                        continue
                    }
                    break
                }
                record(scanDataKind, start..<position, decoding: true)
            default:
                if (0xC0...0xCF).contains(marker), marker != 0xC4, marker != 0xC8, marker != 0xCC {
                    guard !sawFrame else { throw Malformed(reason: "a second frame header") }
                    guard payload.count >= 6 else { throw Malformed(reason: "a short frame header") }
                    sawFrame = true
                    let p = payload.startIndex
                    summary.height = Int(payload[p + 1]) << 8 | Int(payload[p + 2])
                    summary.width = Int(payload[p + 3]) << 8 | Int(payload[p + 4])
                    summary.components = Int(payload[p + 5])
                    summary.frame = switch marker {
                    case 0xC0: "baseline"
                    case 0xC1: "extended sequential"
                    case 0xC2: "progressive"
                    case 0xC3: "lossless"
                    default: "SOF\(marker - 0xC0)"
                    }
                }
                record(marker, payloadRange, decoding: true)
            }
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
    }
}
