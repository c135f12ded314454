import Testing

@testable import DejaCore

/// A TIFF structure with IFD0 at offset 8: entries of (tag, type, count, 4-byte value field as stored),
/// the next-directory offset 0, then `tail` (where offsets may point: the tail starts at 8 + 2 + 12n + 4).
func exifDirectory(_ entries: [(UInt16, UInt16, UInt32, [UInt8])], bigEndian: Bool = true, tail: [UInt8] = []) -> [UInt8] {
    func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) -> [UInt8] {
        bigEndian ? u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) : u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16))
    }
    var out = (bigEndian ? utf8("MM") : utf8("II")) + u16(42) + u32(8) + u16(UInt16(entries.count))
    for (tag, type, count, field) in entries { out += u16(tag) + u16(type) + u32(count) + field }
    return out + u32(0) + tail
}

/// The 4-byte field of an entry holding an offset, big-endian.
func offsetField(_ offset: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: offset >> UInt32($0)) } }

/// The 4-byte field of an entry holding one SHORT, big-endian.
func shortField(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF), 0, 0] }

@Suite struct EXIFOrientationTests {
    func read(_ bytes: [UInt8]) -> EXIFOrientation.Outcome { bytes.withUnsafeBufferPointer { EXIFOrientation.read($0) } }

    let six = (UInt16(0x0112), UInt16(3), UInt32(1), shortField(6))

    @Test func wellFormedDirectoriesGiveTheirOrientation() {
        #expect(read(exifDirectory([six])) == .value(6))
        #expect(read(tiff(bigEndian: false, orientation: 8, extraTags: 5)) == .value(8))
        #expect(read(tiff(bigEndian: true, orientation: nil)) == .absent)
        // Values OpenCV does not apply are still read as they are (the key keeps them apart from 1).
        #expect(read(exifDirectory([(0x0112, 3, 1, shortField(0))])) == .value(0))
        #expect(read(exifDirectory([(0x0112, 3, 1, shortField(9))])) == .value(9))
        // Camera fields in their standard form: make (ASCII at an offset), resolution (RATIONAL), unit, the
        // EXIF sub-directory pointer (never followed), an unknown UNDEFINED field.
        let tail = utf8("DejaCam\0") + [0, 0, 0, 72, 0, 0, 0, 1]
        let base = UInt32(8 + 2 + 12 * 6 + 4)
        let camera = exifDirectory([
            (0x010F, 2, 8, offsetField(base)), six, (0x011A, 5, 1, offsetField(base + 8)), (0x0128, 3, 1, shortField(2)),
            (0x8769, 4, 1, offsetField(0xFFFF_FF00)), (0x9286, 7, 3, [1, 2, 3, 0]),
        ], tail: tail)
        #expect(read(camera) == .value(6))
    }

    /// OpenCV stops reading IFD0 at the first entry whose data lies outside the EXIF (the entries read
    /// before stay in effect), and reads the fields it knows in one form whatever their declared type: a
    /// directory with such an entry could rotate or not depending on that reader, so it is unreadable.
    @Test func entriesOpenCVCannotReadMakeTheDirectoryUnreadable() {
        let cases: [(String, [(UInt16, UInt16, UInt32, [UInt8])])] = [
            ("make at an offset past the end", [(0x010F, 2, 16, offsetField(0xFF00)), six]),
            ("make after the orientation, offset past the end", [six, (0x8298, 2, 16, offsetField(0xFF00))]),
            ("x resolution as a SHORT", [(0x011A, 3, 1, shortField(72)), six]),
            ("x resolution at an offset past the end", [(0x011A, 5, 1, offsetField(0x7FFF_0000)), six]),
            ("white point with 1 rational (OpenCV reads 2)", [(0x013E, 5, 1, offsetField(8)), six]),
            ("reference black/white with 1 rational (OpenCV reads 6)", [(0x0214, 5, 1, offsetField(8)), six]),
            ("unknown type", [(0x9000, 77, 1, [0, 0, 0, 0]), six]),
            ("unknown tag whose data lies past the end", [(0x9286, 7, 4_000, offsetField(8)), six]),
            ("a data size of 32 GiB", [(0x9286, 12, 0xFFFF_FFFF, offsetField(8)), six]),
            ("sub-directory pointer as a SHORT", [six, (0x8769, 3, 1, shortField(8))]),
            ("orientation as a LONG", [(0x0112, 4, 1, [0, 0, 0, 6])]),
            ("orientation as a BYTE", [(0x0112, 1, 1, [6, 0, 0, 0])]),
            ("orientation with count 2", [(0x0112, 3, 2, [0, 6, 0, 3])]),
            ("two orientation entries", [(0x0112, 3, 1, shortField(3)), six]),
        ]
        for (label, entries) in cases {
            #expect(read(exifDirectory(entries)) == .unreadable, "\(label)")
        }
    }

    @Test func malformedStructuresAreUnreadable() {
        let good = exifDirectory([six])
        var cases: [(String, [UInt8])] = [
            ("empty", []),
            ("header only", Array(good.prefix(8))),
            ("cut inside the entry", Array(good.prefix(18))),
            ("no next-directory offset", Array(good.dropLast(4))),
            ("byte order XX (OpenCV reads it as big-endian)", utf8("XX") + good.dropFirst(2)),
            ("byte order IM", utf8("IM") + good.dropFirst(2)),
            ("magic 43", Array(good.prefix(3)) + [43] + good.dropFirst(4)),
            ("65535 entries claimed", [0x49, 0x49, 42, 0, 8, 0, 0, 0, 0xFF, 0xFF]),
            ("IFD0 offset at the very end", utf8("MM\0*\0\0\0\u{8}")),
            ("IFD0 offset past the end", [0x49, 0x49, 42, 0, 0xF0, 0xFF, 0xFF, 0xFF]),
        ]
        for offset: UInt8 in [0, 4, 7] {
            var early = good
            early[7] = offset
            cases.append(("IFD0 offset \(offset), inside the header", early))
        }
        var moreEntries = good
        moreEntries[9] = 2
        cases.append(("2 entries claimed, 1 present", moreEntries))
        for (label, bytes) in cases {
            #expect(read(bytes) == .unreadable, "\(label)")
        }
        for cut in 0..<good.count {
            _ = read(Array(good.prefix(cut)))
        }
    }
}
