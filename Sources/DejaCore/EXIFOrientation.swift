/// Reads the EXIF orientation (tag 0x0112) that OpenCV's EXIF reader applies, from a TIFF structure as
/// EXIF carries it — but only from a directory that reader provably parses to its end.
///
/// OpenCV (imgcodecs 5.0, `ExifReader`) reads IFD0's entries in order and stops at the first read that
/// falls outside the data; the entries before it stay in effect and the first orientation entry wins,
/// whatever its type or count. Whether a given malformed directory rotates the image therefore depends on
/// details of that reader, so this reader does not reproduce them: it accepts only a directory that any
/// careful reader parses completely and the same way, and calls everything else ``Outcome/unreadable``
/// (the caller then keys the EXIF bytes themselves). Accepted, all of these hold:
///
/// - byte order `II` or `MM` followed by 42 in that order; IFD0 at offset 8 or more;
/// - the entry count, every entry and the 4-byte next-directory offset inside the data;
/// - every entry of a TIFF type 1–12 whose data (count × type size, when over 4 bytes) lies inside the
///   data;
/// - the entries OpenCV interprets have their standard form: ASCII for the strings (0x010E, 0x010F,
///   0x0110, 0x0131, 0x0132, 0x8298), RATIONAL with the count OpenCV reads for 0x011A, 0x011B (1),
///   0x013E (2), 0x013F (6), 0x0211 (3), 0x0214 (6), one SHORT for 0x0112, 0x0128 and 0x0213, one LONG
///   for the EXIF sub-directory pointer 0x8769;
/// - at most one orientation entry.
///
/// Linear in the entry count, bounds-checked, never traps. Sub-directories are never followed.
enum EXIFOrientation {
    enum Outcome: Equatable {
        /// IFD0 has one SHORT orientation entry with this value (any value; OpenCV applies 1–8).
        case value(UInt16)
        /// IFD0 has no orientation entry: the image is shown as stored (same as 1).
        case absent
        /// The structure is not one OpenCV provably reads to its end, or the orientation entry is not one
        /// plain SHORT.
        case unreadable
    }

    static let tag: UInt16 = 0x0112

    /// Bytes per value of the TIFF types 1–12 (BYTE, ASCII, SHORT, LONG, RATIONAL, SBYTE, UNDEFINED,
    /// SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE).
    private static let typeSizes: [Int] = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8]

    /// The form (type, count) OpenCV's reader expects of the tags it interprets; `nil`: not interpreted.
    private static func expectedForm(of tag: UInt16) -> (type: UInt16, count: UInt32?)? {
        switch tag {
        case 0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x8298: (2, nil)
        case 0x011A, 0x011B: (5, 1)
        case 0x013E: (5, 2)
        case 0x013F, 0x0214: (5, 6)
        case 0x0211: (5, 3)
        case 0x0112, 0x0128, 0x0213: (3, 1)
        case 0x8769: (4, 1)
        default: nil
        }
    }

    /// Parses the TIFF header and IFD0 of `tiff` (the bytes after `Exif\0\0` in a JPEG, or a PNG `eXIf`).
    static func read(_ tiff: UnsafeBufferPointer<UInt8>) -> Outcome {
        let count = tiff.count
        guard count >= 8 else { return .unreadable }
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
        guard ifd >= 8, ifd <= count - 2 else { return .unreadable }
        let entries = Int(u16(ifd))
        // The entries and the next-directory offset; `ifd <= count - 2`, so nothing here overflows.
        guard entries * 12 + 4 <= count - ifd - 2 else { return .unreadable }
        var found: Outcome = .absent
        for index in 0..<entries {
            let entry = ifd + 2 + index * 12
            let tag = u16(entry), type = u16(entry + 2), values = u32(entry + 4)
            guard type >= 1, type <= 12 else { return .unreadable }
            let (size, overflow) = Int(values).multipliedReportingOverflow(by: typeSizes[Int(type)])
            guard !overflow else { return .unreadable }
            if size > 4 {
                let offset = Int(u32(entry + 8))
                guard offset <= count, size <= count - offset else { return .unreadable }
            }
            if let form = expectedForm(of: tag) {
                guard type == form.type, form.count.map({ $0 == values }) ?? true else { return .unreadable }
            }
            if tag == Self.tag {
                // A second orientation entry: OpenCV takes the first, but no reader should see two.
                guard found == .absent else { return .unreadable }
                found = .value(u16(entry + 8))
            }
        }
        return found
    }
}
