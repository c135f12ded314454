import Crypto
import Testing

@testable import DejaCore

/// Where a PNG's key follows libpng and OpenCV 5.0 rather than the PNG specification alone; checked against
/// the worker's decoder by tests/integration/test_image_differential.py.
@Suite struct PNGDecoderRulesTests {
    let image = gradientImage()

    /// `png` with its zlib header declaring a window of 2^(cinfo + 8) bytes (the deflate data unchanged).
    func withZlibWindow(_ png: [UInt8], cinfo: UInt8) -> [UInt8] {
        var out = png
        var position = 8
        while position + 12 <= out.count {
            let length = out[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
            if out[position + 4..<position + 8].elementsEqual(utf8("IDAT")) {
                let cmf = cinfo << 4 | 8
                var flg = out[position + 9] & 0xE0
                flg |= UInt8((31 - (Int(cmf) * 256 + Int(flg)) % 31) % 31)
                out[position + 8] = cmf
                out[position + 9] = flg
                return fixingCRCs(out)
            }
            position += 12 + length
        }
        return out
    }

    @Test func theFirstEXIFLibpngKeepsDecides() throws {
        let reference = try fileDigest(image.encode())
        let six = tiff(bigEndian: true, orientation: 6)
        let one = tiff(bigEndian: false, orientation: 1)
        let rotated = try fileDigest(image.encode(before: [("eXIf", six)]))
        #expect(rotated != reference)
        #expect(try fileDigest(image.encode(after: [("eXIf", six)])) == rotated)
        // libpng keeps the first eXIf and drops the others: 1 then 6 is not the file that says 6.
        let oneThenSix = try fileDigest(image.encode(before: [("eXIf", one), ("eXIf", six)]))
        #expect(oneThenSix != rotated)
        #expect(try fileDigest(image.encode(before: [("eXIf", one)], after: [("eXIf", six)])) != rotated)
        // Dropped chunks count as bytes: never mistaken for the kept one.
        #expect(oneThenSix != reference)
        #expect(try fileDigest(image.encode(before: [("eXIf", six), ("eXIf", one)])) != rotated)
        // libpng drops an eXIf without a TIFF header and keeps the next; the dropped one counts as bytes.
        let junkThenSix = try fileDigest(image.encode(before: [("eXIf", utf8("junkjunk")), ("eXIf", six)]))
        #expect(junkThenSix != rotated && junkThenSix != reference)
        #expect(try fileDigest(image.encode(before: [("eXIf", utf8("Exif\0\0") + six)])) != rotated)
        // A directory OpenCV may read partly counts as bytes.
        let badMake = exifDirectory([(0x010F, 2, 16, offsetField(0xFF00)), (0x0112, 3, 1, shortField(6))])
        #expect(try fileDigest(image.encode(before: [("eXIf", badMake)])) != rotated)
    }

    /// OpenCV refuses a file whose chunk before IDAT has more than 8,000,000 bytes with its header.
    @Test func largeMetadataChunksCount() throws {
        let reference = try fileDigest(image.encode())
        let limit = PNGFile.maxIgnoredChunkBytes
        let fits = utf8("Comment\0\0") + [UInt8](repeating: 120, count: limit - 9)
        #expect(try fileDigest(image.encode(before: [("zTXt", fits)])) == reference)
        let large = fits + [120]
        let before = try fileDigest(image.encode(before: [("zTXt", large)]))
        let after = try fileDigest(image.encode(after: [("zTXt", large)]))
        #expect(before != reference && after != reference && before != after)
        let six = tiff(bigEndian: true, orientation: 6)
        let padded = six + [UInt8](repeating: 0, count: limit)
        #expect(try fileDigest(image.encode(before: [("eXIf", padded)])) != fileDigest(image.encode(before: [("eXIf", six)])))
    }

    @Test func chunksAfterTheImageDataCountApart() throws {
        let gamma: (String, [UInt8]) = ("gAMA", [0, 0, 177, 143])
        #expect(try fileDigest(image.encode(before: [gamma])) != fileDigest(image.encode(after: [gamma])))
    }

    @Test func rawProfileTextCounts() throws {
        let reference = try fileDigest(image.encode())
        let profile = utf8("\nexif\n      20\n") + Array("Exif\0\0".utf8) + [0x4D, 0x4D, 0, 42]
        for (type, keyword) in [("tEXt", "Raw profile type exif\0"), ("zTXt", "raw PROFILE type APP1\0\0"), ("iTXt", "Raw profile type exif\0\0\0\0\0")] {
            #expect(try fileDigest(image.encode(before: [(type, utf8(keyword) + profile)])) != reference, "\(type)")
        }
        #expect(try fileDigest(image.encode(before: [("tEXt", utf8("Raw\0profile"))])) == reference)
    }

    /// libpng inflates with the window the zlib header declares; a stream that fits in it is read alike.
    @Test func aZlibWindowSmallerThanTheImageDataIsKeyedOnTheBytes() throws {
        let small = gradientImage(width: 4, height: 3)  // 3 × (1 + 12) = 39 bytes of image data
        let reference = try fileDigest(small.encode())
        for cinfo: UInt8 in 0...7 {
            #expect(try fileDigest(withZlibWindow(small.encode(), cinfo: cinfo)) == reference, "CINFO \(cinfo)")
        }
        let file = withZlibWindow(image.encode(), cinfo: 3)  // 2 KiB window, 3,630 bytes of image data
        let request = try canonicalizeFile(file)
        #expect(request.canonicalForm["file"]?.stringValue == plainDigest(file))
        #expect(request.notes.first?.contains("declares a 2048-byte window, smaller than the 3630 bytes") == true, "\(request.notes)")
        #expect(try fileDigest(withZlibWindow(image.encode(), cinfo: 4)) == fileDigest(image.encode()))
    }

    /// Interlaced rows are hashed as the stream holds them, pass by pass: no image buffer.
    @Test func interlacedImagesAreHashedPassByPass() throws {
        let png = TestPNG(width: 5, height: 3, bitDepth: 8, colourType: 0) { x, y, _ in x * 10 + y }
        let file = png.encode(interlaced: true)
        let parsed = try file.withUnsafeBufferPointer { try PNGFile($0) }
        var hasher = SHA256()
        hasher.update(data: KeyEncoding.encode(fields: [file.withUnsafeBufferPointer { PNGPixels.header(of: parsed, bytes: $0) }]))
        // Adam7 on 5×3, (x, y) per row: pass 1, 2 and 4 one pixel each, pass 3 empty, pass 5 row y=2, pass 6
        // rows y=0 and y=2, pass 7 row y=1.
        let rows: [[(Int, Int)]] = [
            [(0, 0)], [(4, 0)], [(2, 0)], [(0, 2), (2, 2), (4, 2)], [(1, 0), (3, 0)], [(1, 2), (3, 2)],
            [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
        ]
        for row in rows { hasher.update(data: row.map { UInt8($0.0 * 10 + $0.1) }) }
        #expect(try fileDigest(file) == "png-pixels-sha256:" + CacheKey(digest: hasher.finalize()).hex)
    }
}
