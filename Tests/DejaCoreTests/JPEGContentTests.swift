import Testing

@testable import DejaCore

@Suite struct JPEGContentTests {
    @Test func metadataDoesNotCountOrientationDoes() throws {
        let base = try fixture("base-q90.jpg")
        let reference = try fileDigest(base)
        #expect(reference.hasPrefix("jpeg-dct-sha256:"))
        // Files written by Pillow with EXIF (little-endian TIFF): orientation 1 is the same as none.
        #expect(try fileDigest(fixture("pillow-exif-orientation1.jpg")) == reference)
        let pillowSix = try fileDigest(fixture("pillow-exif-orientation6.jpg"))
        #expect(pillowSix != reference)
        let exif = utf8("Exif\0\0")
        let same: [(String, [UInt8])] = [
            ("comment", insertingSegment(0xFE, utf8("scanned at the front desk"), into: base, afterSegments: 1)),
            ("XMP", insertingSegment(0xE1, utf8("http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"), into: base, afterSegments: 1)),
            ("IPTC", insertingSegment(0xED, utf8("Photoshop 3.0\08BIM"), into: base)),
            ("EXIF camera fields, big-endian", insertingSegment(0xE1, exif + tiff(bigEndian: true, orientation: nil), into: base, afterSegments: 1)),
            ("EXIF orientation 1, big-endian", insertingSegment(0xE1, exif + tiff(bigEndian: true, orientation: 1, extraTags: 4), into: base)),
            ("EXIF camera fields, little-endian", insertingSegment(0xE1, exif + tiff(bigEndian: false, orientation: nil, make: "X"), into: base)),
            ("APP3 and APP15", insertingSegment(0xEF, [1, 2, 3], into: insertingSegment(0xE3, [4], into: base))),
            ("MPF in APP2", insertingSegment(0xE2, utf8("MPF\0") + [0, 0], into: base)),
            ("fill bytes before a marker", Array(base[..<2]) + [0xFF, 0xFF] + Array(base[2...])),
            ("bytes after EOI", base + [0, 1, 2, 3]),
        ]
        for (label, file) in same {
            #expect(try fileDigest(file) == reference, "\(label)")
        }
        let six = try fileDigest(insertingSegment(0xE1, exif + tiff(bigEndian: true, orientation: 6), into: base, afterSegments: 1))
        let three = try fileDigest(insertingSegment(0xE1, exif + tiff(bigEndian: false, orientation: 3), into: base))
        #expect(six != reference && three != reference && six != three)
        #expect(six == pillowSix)  // same orientation in the other byte order, same scan
        // An EXIF segment whose IFD cannot be read counts in full.
        let garbled = exif + [0x4D, 0x4D, 0, 42, 0, 0, 0x10, 0]
        #expect(try fileDigest(insertingSegment(0xE1, garbled, into: base)) != reference)
    }

    @Test func decodingDataCounts() throws {
        let base = try fixture("base-q90.jpg")
        let reference = try fileDigest(base)
        let others = try ["base-q50.jpg", "cmyk-adobe.jpg"].map { try fileDigest(fixture($0)) }
        #expect(Set(others + [reference]).count == 3)
        // Lossless transcodes of the same coefficients (JPEGCoefficientsTests has more).
        #expect(try fileDigest(fixture("progressive-q90.jpg")) == reference)
        #expect(try fileDigest(fixture("restart-q90.jpg")) == reference)
        let icc = insertingSegment(0xE2, utf8("ICC_PROFILE\0") + [1, 1] + [UInt8](repeating: 9, count: 40), into: base, afterSegments: 1)
        let otherICC = insertingSegment(0xE2, utf8("ICC_PROFILE\0") + [1, 1] + [UInt8](repeating: 8, count: 40), into: base, afterSegments: 1)
        let adobe = insertingSegment(0xEE, utf8("Adobe") + [0, 100, 0, 0, 0, 0, 1], into: base)
        let adobeOther = insertingSegment(0xEE, utf8("Adobe") + [0, 100, 0, 0, 0, 0, 0], into: base)
        let noJFIF = Array(base[..<2]) + Array(base[20...])  // APP0 JFIF is 2 + 16 bytes
        let digests = try [icc, otherICC, adobe, adobeOther, noJFIF].map { try fileDigest($0) }
        #expect(Set(digests + [reference]).count == 6)
        // One bit of scan data.
        var scan = base
        scan[scan.count - 10] ^= 0x01
        #expect(try fileDigest(scan) != reference)
    }

    @Test func notesSayWhatWasReadAndIgnored() throws {
        let base = try fixture("base-q90.jpg")
        let file = insertingSegment(
            0xFE, utf8("hello"),
            into: insertingSegment(0xE1, utf8("Exif\0\0") + tiff(bigEndian: true, orientation: 6), into: base, afterSegments: 1)
        )
        let request = try canonicalizeFile(file)
        #expect(request.notes == [
            "file: JPEG 96×64 3 components baseline, keyed on DCT coefficients; ignored: comment, EXIF fields other than the orientation; counted: EXIF orientation 6"
        ])
        let progressive = try canonicalizeFile(fixture("progressive-q90.jpg"))
        #expect(progressive.notes == ["file: JPEG 96×64 3 components progressive, keyed on DCT coefficients"])
    }

    @Test func malformedFilesAreKeyedOnTheirBytes() throws {
        let base = try fixture("base-q90.jpg")
        let cases: [(String, [UInt8], String)] = [
            ("no EOI", Array(base.dropLast(2)), "scan data without EOI"),
            ("truncated segment", Array(base.prefix(30)), "truncated segment"),
            ("SOI only", [0xFF, 0xD8, 0xFF], "no EOI"),
            ("segment length past the end", Array(base.prefix(4)) + [0xFF, 0xF0] + Array(base[6...]), "truncated segment"),
            ("RST outside a scan", Array(base.prefix(2)) + [0xFF, 0xD0] + Array(base[2...]), "unexpected marker FFD0"),
            ("EOI before a frame", [0xFF, 0xD8, 0xFF, 0xD9], "EOI before any frame"),
            ("second SOI", Array(base.prefix(2)) + [0xFF, 0xD8] + Array(base[2...]), "unexpected marker FFD8"),
        ]
        for (label, file, reason) in cases {
            let request = try canonicalizeFile(file)
            #expect(request.canonicalForm["file"]?.stringValue == plainDigest(file), "\(label)")
            #expect(request.notes.first?.hasPrefix("file: looks like a JPEG but ") == true, "\(label): \(request.notes)")
            #expect(request.notes.first?.contains(reason) == true, "\(label): \(request.notes)")
        }
        // Not starting with SOI: not a JPEG at all.
        let shifted = [0] + base
        #expect(try fileDigest(shifted) == plainDigest(shifted))
    }

    /// libjpeg takes an APP0 segment for JFIF (and so three components for YCbCr whatever their
    /// identifiers) only with at least 14 bytes of payload, and only before the first scan.
    @Test func jfifCountsOnlyAsLibjpegReadsIt() throws {
        let base = try fixture("base-q90.jpg")
        let jfif = Array(base[6..<20])  // the APP0 payload: JFIF\0, version, density
        let noJFIF = Array(base[..<2]) + Array(base[20...])
        let without = try fileDigest(noJFIF)
        let with = try fileDigest(base)
        #expect(with != without)
        #expect(try fileDigest(insertingSegment(0xE0, utf8("JFIF\0"), into: noJFIF)) == without)
        #expect(try fileDigest(insertingSegment(0xE0, Array(jfif.prefix(13)), into: noJFIF)) == without)
        #expect(try fileDigest(insertingSegment(0xE0, jfif, into: noJFIF, afterSegments: 3)) == with)
        #expect(try fileDigest(insertingSegment(0xE0, jfif, into: base)) == with)
        let late = Array(noJFIF.dropLast(2)) + [0xFF, 0xE0, 0, 16] + jfif + [0xFF, 0xD9]
        #expect(try fileDigest(late) != without && fileDigest(late) != with)
    }
}
