import Testing

@testable import DejaCore

/// Which EXIF a JPEG's key counts: what OpenCV 5.0's decoder (worker/server.py `_decode_image`) applies,
/// checked against it by tests/integration/test_image_differential.py.
@Suite struct JPEGOrientationTests {
    let base: [UInt8]
    let six: [UInt8]
    let three: [UInt8]
    let one: [UInt8]
    let none: [UInt8]

    init() throws {
        base = try fixture("base-q90.jpg")
        six = tiff(bigEndian: true, orientation: 6)
        three = tiff(bigEndian: false, orientation: 3)
        one = tiff(bigEndian: true, orientation: 1)
        none = tiff(bigEndian: false, orientation: nil)
    }

    /// `base` with APP1 segments `Exif\0\0` + each TIFF inserted after the JFIF segment, in order.
    func withEXIF(_ tiffs: [[UInt8]], header: String = "Exif\0\0") -> [UInt8] {
        var file = base
        for (index, structure) in tiffs.enumerated() {
            file = insertingSegment(0xE1, utf8(header) + structure, into: file, afterSegments: 1 + index)
        }
        return file
    }

    /// `base` with a segment inserted just before EOI, after the scan (OpenCV no longer reads EXIF there).
    func afterScan(_ marker: UInt8, _ payload: [UInt8], into file: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return Array(file.dropLast(2)) + [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9]
    }

    @Test func onlyTheExactExifHeaderIsRead() throws {
        let reference = try fileDigest(base)
        let rotated = try fileDigest(withEXIF([six]))
        #expect(rotated != reference)
        // OpenCV does not read these: they are metadata like any other APP1.
        for header in ["ExifXX", "Exif\0\u{1}", "exif\0\0", "EXIF\0\0", "Exif  "] {
            #expect(try fileDigest(withEXIF([six], header: header)) == reference, "\(header.debugDescription)")
        }
        #expect(try fileDigest(withEXIF([three, six], header: "ExifXX")) == reference)
        // An odd header before the real one does not hide it.
        let odd = insertingSegment(0xE1, utf8("ExifXX") + three, into: withEXIF([six]), afterSegments: 1)
        #expect(try fileDigest(odd) == rotated)
    }

    @Test func exifAfterTheFirstScanIsNotAnOrientation() throws {
        let reference = try fileDigest(base)
        let rotated = try fileDigest(withEXIF([six]))
        let late = afterScan(0xE1, utf8("Exif\0\0") + six, into: base)
        let lateDigest = try fileDigest(late)
        #expect(lateDigest != rotated)
        #expect(lateDigest != reference)  // counted as bytes, not reasoned about
        #expect(try canonicalizeFile(late).notes.first?.contains("counted: EXIF after the first scan") == true)
        // EXIF saying 1 before the scan and 6 after it: not the file that says 6.
        #expect(try fileDigest(afterScan(0xE1, utf8("Exif\0\0") + six, into: withEXIF([one]))) != rotated)
    }

    /// OpenCV reads every EXIF segment into one table where the first orientation wins.
    @Test func theFirstOrientationDecides() throws {
        let reference = try fileDigest(base)
        let rotated = try fileDigest(withEXIF([six]))
        #expect(try fileDigest(withEXIF([none, six])) == rotated)
        #expect(try fileDigest(withEXIF([six, three])) == rotated)
        #expect(try fileDigest(withEXIF([six, none, one])) == rotated)
        #expect(try fileDigest(withEXIF([one, six])) == reference)
        #expect(try fileDigest(withEXIF([one, six])) != fileDigest(withEXIF([none, six])))
        #expect(try fileDigest(withEXIF([three, six])) == fileDigest(withEXIF([three])))
        #expect(try fileDigest(withEXIF([one])) == reference)
        #expect(try fileDigest(withEXIF([none, none])) == reference)
    }

    /// A segment OpenCV may read partly: from it on, every segment counts as its bytes.
    @Test func anUnreadableSegmentCountsWithEverythingAfterIt() throws {
        let rotated = try fileDigest(withEXIF([six]))
        let badMake = exifDirectory([(0x010F, 2, 16, offsetField(0xFF00)), (0x0112, 3, 1, shortField(6))])
        let unreadable = try fileDigest(withEXIF([badMake]))
        #expect(unreadable != rotated)
        #expect(unreadable != (try fileDigest(base)))
        #expect(try fileDigest(withEXIF([badMake, six])) != unreadable)
        #expect(try fileDigest(withEXIF([badMake, six])) != fileDigest(withEXIF([badMake, three])))
        // After the decision an unreadable segment still counts; a readable one does not.
        #expect(try fileDigest(withEXIF([six, badMake])) != rotated)
        #expect(try fileDigest(withEXIF([one, badMake])) != fileDigest(base))
        #expect(try fileDigest(withEXIF([one, badMake])) != fileDigest(withEXIF([badMake])))
        let notes = try canonicalizeFile(withEXIF([badMake, six])).notes
        #expect(notes.first?.contains("counted: 2 × unreadable EXIF") == true, "\(notes)")
    }

    @Test func orientationsOpenCVDoesNotApplyStayApartFromOne() throws {
        let reference = try fileDigest(base)
        for value: UInt16 in [0, 9, 0xFFFF] {
            #expect(try fileDigest(withEXIF([tiff(bigEndian: true, orientation: value)])) != reference, "\(value)")
        }
    }
}
