import CompressNIO
import Testing

@testable import DejaCore

@Suite struct PNGContentTests {
    let image = gradientImage()

    @Test func samePixelsShareAKeyWhateverTheCompressionFiltersAndMetadata() throws {
        let reference = try fileDigest(image.encode())
        #expect(reference.hasPrefix("png-pixels-sha256:") && reference.utf8.count == 18 + 64)
        let text: [(String, [UInt8])] = [("tEXt", utf8("Comment\0scanned by DejaScan")), ("tIME", [7, 233, 1, 2, 3, 4, 5])]
        let variants: [(String, [UInt8])] = [
            ("level 0", image.encode(level: .noCompression)),
            ("level 9", image.encode(level: .bestCompression)),
            ("level 1 sub", image.encode(level: .fastestCompression, filter: .fixed(1))),
            ("up", image.encode(filter: .fixed(2))),
            ("average", image.encode(filter: .fixed(3))),
            ("paeth", image.encode(filter: .fixed(4))),
            ("every filter", image.encode(level: .bestCompression, filter: .cycle)),
            ("split IDAT", image.encode(level: .noCompression, idatSize: 97)),
            ("one-byte IDATs", image.encode(idatSize: 1)),
            ("tEXt and tIME", image.encode(before: text)),
            ("metadata after IDAT", image.encode(after: [("zTXt", utf8("k\0\0x")), ("iTXt", utf8("k\0\0\0\0\0v")), ("tIME", [7, 233, 1, 1, 1, 1, 1])])),
            ("pHYs and iDOT", image.encode(level: .bestCompression, before: [("pHYs", [0, 0, 11, 19, 0, 0, 11, 19, 1]), ("iDOT", [0, 0, 0, 2])])),
            ("trailing bytes after IEND", image.encode() + [1, 2, 3]),
        ]
        for (label, file) in variants {
            #expect(try fileDigest(file) == reference, "\(label)")
        }
        // Interlaced files are hashed pass by pass: they share a key with each other, not with the above.
        let interlaced = try fileDigest(image.encode(interlaced: true))
        #expect(interlaced != reference)
        #expect(try fileDigest(image.encode(level: .noCompression, filter: .cycle, interlaced: true, idatSize: 50, before: text)) == interlaced)
    }

    @Test func notesSayWhatWasReadAndIgnored() throws {
        let file = image.encode(before: [("tEXt", utf8("a\0b")), ("gAMA", [0, 0, 177, 143])], after: [("tIME", [7, 233, 1, 1, 1, 1, 1])])
        let request = try canonicalizeFile(file)
        #expect(request.notes == ["file: PNG 40×30 RGB 8-bit; 2 ancillary chunks ignored (tEXt, tIME); counted: gAMA"])
        let interlaced = try canonicalizeFile(TestPNG(width: 9, height: 5, bitDepth: 1, colourType: 0) { x, _, _ in x % 2 }.encode(interlaced: true))
        #expect(interlaced.notes == ["file: PNG 9×5 greyscale 1-bit interlaced"])
    }

    @Test func anyPixelChangeChangesTheKey() throws {
        let reference = try fileDigest(image.encode())
        var changed = image
        changed.rows[17][3 * 21 + 1] ^= 1
        #expect(try fileDigest(changed.encode()) != reference)
        #expect(try fileDigest(changed.encode(interlaced: true)) != reference)
        var swapped = image
        swapped.rows.swapAt(0, 1)
        #expect(try fileDigest(swapped.encode()) != reference)
        // The same samples read as another shape.
        var reshaped = image
        reshaped.width = 30
        reshaped.height = 40
        reshaped.rows = image.rows.joined().chunked(90)
        #expect(try fileDigest(reshaped.encode()) != reference)
    }

    @Test func paletteTransparencyDepthAndColourTypeCount() throws {
        var palette = TestPNG(width: 16, height: 8, bitDepth: 4, colourType: 3) { x, y, _ in (x + y) % 16 }
        palette.palette = (0..<16).flatMap { (index: Int) -> [UInt8] in [UInt8(index * 16), UInt8(255 - index * 16), 7] }
        let reference = try fileDigest(palette.encode())
        var recoloured = palette
        recoloured.palette![3 * 5] ^= 0x10
        #expect(try fileDigest(recoloured.encode()) != reference)
        var transparent = palette
        transparent.transparency = [255, 0]
        #expect(try fileDigest(transparent.encode()) != reference)
        // Unused palette entries count too: never guess what a decoder does with them.
        var longer = palette
        longer.palette! += [1, 2, 3]
        let longerDigest = try fileDigest(longer.encode())
        #expect(longerDigest != reference)
        #expect(try fileDigest(palette.encode(level: .bestCompression, filter: .cycle)) == reference)

        let grey8 = TestPNG(width: 8, height: 8, bitDepth: 8, colourType: 0) { x, y, _ in x * 30 + y }
        let grey16 = TestPNG(width: 8, height: 8, bitDepth: 16, colourType: 0) { x, y, _ in (x * 30 + y) * 257 }
        let rgb8 = TestPNG(width: 8, height: 8, bitDepth: 8, colourType: 2) { x, y, _ in x * 30 + y }
        let greyDigests = try [grey8, grey16, rgb8].map { try fileDigest($0.encode()) }
        #expect(Set(greyDigests).count == 3)
    }

    @Test func renderingChunksCountMetadataDoesNot() throws {
        let reference = try fileDigest(image.encode())
        let counted: [(String, [UInt8])] = [
            ("gAMA", [0, 0, 177, 143]), ("sRGB", [0]), ("cHRM", [UInt8](repeating: 1, count: 32)), ("sBIT", [5, 6, 5]),
            ("iCCP", utf8("icc\0\0") + [120, 156, 3, 0, 0, 0, 0, 1]), ("bKGD", [0, 0, 0, 0, 0, 0]), ("cICP", [1, 13, 0, 1]),
            ("prVt", [1]),
        ]
        var digests: Set<String> = [reference]
        for chunk in counted {
            digests.insert(try fileDigest(image.encode(before: [chunk])))
        }
        #expect(digests.count == counted.count + 1)
        #expect(try fileDigest(image.encode(before: [("gAMA", [0, 0, 177, 143])])) != fileDigest(image.encode(before: [("gAMA", [0, 0, 177, 144])])))
    }

    @Test func exifOrientationCountsOtherExifDoesNot() throws {
        let reference = try fileDigest(image.encode())
        for bigEndian in [true, false] {
            let one = try fileDigest(image.encode(before: [("eXIf", tiff(bigEndian: bigEndian, orientation: 1))]))
            let none = try fileDigest(image.encode(after: [("eXIf", tiff(bigEndian: bigEndian, orientation: nil, make: "Other"))]))
            let six = try fileDigest(image.encode(before: [("eXIf", tiff(bigEndian: bigEndian, orientation: 6, extraTags: 3))]))
            let eight = try fileDigest(image.encode(before: [("eXIf", tiff(bigEndian: bigEndian, orientation: 8))]))
            #expect(one == reference)
            #expect(none == reference)
            #expect(six != reference && eight != reference && six != eight)
            #expect(six == (try fileDigest(image.encode(level: .bestCompression, before: [("eXIf", tiff(bigEndian: !bigEndian, orientation: 6))]))))
        }
        // An eXIf we cannot read counts as a whole.
        let garbled = try fileDigest(image.encode(before: [("eXIf", [0x4D, 0x4D, 0, 42, 0xFF, 0xFF, 0, 0])]))
        #expect(garbled != reference)
    }

    @Test func unusedBitsAtTheEndOfARowDoNotCount() throws {
        let bits = TestPNG(width: 5, height: 4, bitDepth: 1, colourType: 0) { x, y, _ in (x ^ y) & 1 }
        var noisy = bits
        for index in noisy.rows.indices { noisy.rows[index][0] |= 0x07 }  // the 3 bits after 5 pixels
        #expect(try fileDigest(noisy.encode()) == fileDigest(bits.encode()))
        // In an interlaced file the unused bits end each pass's rows.
        #expect(try fileDigest(noisy.encode(interlaced: true)) == fileDigest(bits.encode(interlaced: true)))
    }

    @Test func everyDepthAndColourTypeDigestsInterlacedOrNot() throws {
        let shapes: [(UInt8, UInt8)] = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 8), (4, 8), (4, 16), (6, 8), (6, 16)]
        for (type, depth) in shapes {
            for (w, h) in [(1, 1), (3, 7), (13, 9)] {
                var png = TestPNG(width: w, height: h, bitDepth: depth, colourType: type) { x, y, c in x * 7 + y * 3 + c * 5 }
                if type == 3 { png.palette = (0..<(1 << Int(depth))).flatMap { [UInt8($0), 0, 0] } }
                let label = "type \(type) depth \(depth) \(w)×\(h)"
                let plain = try fileDigest(png.encode())
                let interlaced = try fileDigest(png.encode(interlaced: true))
                #expect(plain.hasPrefix("png-pixels-sha256:") && interlaced.hasPrefix("png-pixels-sha256:"), "\(label)")
                #expect(interlaced != plain, "\(label)")
                #expect(try fileDigest(png.encode(level: .bestCompression, filter: .cycle)) == plain, "\(label)")
                #expect(try fileDigest(png.encode(level: .noCompression, filter: .cycle, interlaced: true, idatSize: 3)) == interlaced, "\(label)")
            }
        }
    }

    @Test func malformedFilesAreKeyedOnTheirBytes() throws {
        let good = image.encode()
        var badCRC = good
        badCRC[20] ^= 0x01
        var badZlib = image.encode(level: .noCompression)
        badZlib[60] ^= 0xFF  // inside the stored block: the Adler-32 check fails
        var lying = TestPNG(width: 40, height: 29) { _, _, _ in 0 }.encode()
        lying.replaceSubrange(16..<24, with: [0, 0, 0, 40, 0, 0, 0, 30])
        var tooMuch = gradientImage(width: 40, height: 31).encode()
        tooMuch.replaceSubrange(16..<24, with: [0, 0, 0, 40, 0, 0, 0, 30])
        var trailingZlib = image.encode()
        let idatLength = trailingZlib[33..<37].reduce(0) { $0 << 8 | Int($1) }
        trailingZlib.insert(contentsOf: [0, 0, 0], at: 41 + idatLength)
        trailingZlib.replaceSubrange(33..<37, with: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: (idatLength + 3) >> $0) })
        let cases: [(String, [UInt8], String)] = [
            ("bad CRC", badCRC, "bad CRC in chunk 0 (IHDR)"),
            ("truncated", Array(good.dropLast(20)), "truncated"),
            ("bad zlib", fixingCRCs(badZlib), "zlib stream is corrupt"),
            ("no IEND", Array(good.dropLast(12)), "no IEND"),
            ("signature only", Array(good.prefix(8)), "no IEND"),
            ("unknown critical chunk", image.encode(before: [("ABCD", [1])]), "unknown critical chunk ABCD"),
            ("unknown filter", image.encode(filter: .fixed(7)), "unknown row filter 7"),
            ("too little data", fixingCRCs(lying), "ends before the last row"),
            ("too much data", fixingCRCs(tooMuch), "more image data than the header describes"),
            ("data after the zlib stream", fixingCRCs(trailingZlib), "data after the end of the zlib stream"),
            ("tRNS in RGBA", TestPNG(width: 2, height: 2, colourType: 6) { _, _, _ in 1 }.encode(before: [("tRNS", [0, 0])]), "tRNS"),
            ("palette image without PLTE", TestPNG(width: 2, height: 2, colourType: 3) { _, _, _ in 0 }.encode(), "without PLTE"),
        ]
        for (label, file, reason) in cases {
            let request = try canonicalizeFile(file)
            #expect(request.canonicalForm["file"]?.stringValue == plainDigest(file), "\(label)")
            #expect(request.notes.count == 1 && request.notes[0].hasPrefix("file: looks like a PNG but "), "\(label): \(request.notes)")
            #expect(request.notes.first?.contains(reason) == true, "\(label): \(request.notes)")
        }
    }

    @Test func imagesPastTheLimitsAreRejectedNamingTheField() throws {
        let small = Canonicalizer(imageLimits: ImageLimits(maxPixels: 1_000, maxDecodedBytes: 1 << 20))
        let error = thrownError { _ = try canonicalizeFile(image.encode(), canonicalizer: small) }
        #expect(error?.code == .imageTooLarge)
        #expect(error?.path == "$.file")
        #expect(error?.code.description == "image_too_large")
        let bytes = Canonicalizer(imageLimits: ImageLimits(maxPixels: 1 << 20, maxDecodedBytes: 3_000))
        #expect(thrownError { _ = try canonicalizeFile(image.encode(), canonicalizer: bytes) }?.code == .imageTooLarge)
        // A header claiming 2^31-1 × 2^31-1 pixels with default limits: rejected before anything is allocated.
        var huge = TestPNG(width: 1, height: 1) { _, _, _ in 0 }.encode()
        huge.replaceSubrange(16..<24, with: [0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF])
        huge = fixingCRCs(huge)
        #expect(thrownError { _ = try canonicalizeFile(huge) }?.code == .imageTooLarge)
        // A highly compressible image within the limits decodes normally.
        let blank = TestPNG(width: 2_000, height: 1_000, bitDepth: 8, colourType: 0) { _, _, _ in 0 }
        #expect(try fileDigest(blank.encode(level: .bestCompression)).hasPrefix("png-pixels-sha256:"))
    }

    @Test func otherFormatsAreKeyedOnTheirBytes() throws {
        for file in [utf8("GIF89a\u{1}\u{0}\u{1}\u{0}"), utf8("BM6\0\0\0"), utf8("RIFF\0\0\0\0WEBPVP8 "), [0x49, 0x49, 42, 0, 8, 0, 0, 0]] {
            let request = try canonicalizeFile(file)
            #expect(request.canonicalForm["file"]?.stringValue == plainDigest(file))
            #expect(request.notes.isEmpty)
        }
    }

    @Test func contentDigestsParseBack() throws {
        let digest = try fileDigest(image.encode())
        #expect(ContentDigest(digest)?.description == digest)
        #expect(ContentDigest(digest)?.kind == .pngPixels)
        #expect(ContentDigest("sha256:" + String(repeating: "0", count: 64))?.kind == .bytes)
        #expect(ContentDigest("md5:" + String(repeating: "0", count: 64)) == nil)
        #expect(ContentDigest("sha256:abc") == nil)
    }
}

/// `png` with every chunk's CRC recomputed (for files edited by a test).
func fixingCRCs(_ png: [UInt8]) -> [UInt8] {
    var out = png
    var position = 8
    while position + 12 <= out.count {
        let length = Int(out[position]) << 24 | Int(out[position + 1]) << 16 | Int(out[position + 2]) << 8 | Int(out[position + 3])
        guard position + 12 + length <= out.count else { break }
        let crc = TestPNG.crc32(Array(out[position + 4..<position + 8 + length]))
        out.replaceSubrange(position + 8 + length..<position + 12 + length, with: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: crc >> UInt32($0)) })
        position += 12 + length
    }
    return out
}

extension Sequence {
    func chunked(_ size: Int) -> [[Element]] {
        var result: [[Element]] = []
        var current: [Element] = []
        for element in self {
            current.append(element)
            if current.count == size { result.append(current); current = [] }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
