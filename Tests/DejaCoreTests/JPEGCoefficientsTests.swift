import Testing

@testable import DejaCore

/// The fixtures `transcode-*.jpg` were made once with Pillow 13 (45×29 RGB at 4:2:0, 4:2:2 and 4:4:4,
/// a 37×21 greyscale image) and Debian's jpegtran (libjpeg-turbo 2.1.5, `-copy all`): `-optimize`,
/// `-progressive`, `-restart 1`, `-restart 4B`, `-progressive -restart 2B`, `-rotate 90`,
/// `-flip horizontal`; `cmyk-adobe-progressive.jpg` is `jpegtran -progressive` of `cmyk-adobe.jpg`.
/// OpenCV decodes each group below to one array, and the rotated, flipped and requantised files to others.
@Suite struct JPEGCoefficientsTests {
    static let transcodes: [[String]] = [
        ["transcode-420.jpg", "transcode-420-optimize.jpg", "transcode-420-progressive.jpg", "transcode-420-restart1.jpg",
         "transcode-420-restart4b.jpg", "transcode-420-progressive-restart2b.jpg"],
        ["transcode-422.jpg", "transcode-422-progressive.jpg", "transcode-422-restart1.jpg"],
        ["transcode-444.jpg", "transcode-444-progressive.jpg", "transcode-444-restart1.jpg"],
        ["transcode-grey.jpg", "transcode-grey-progressive.jpg", "transcode-grey-restart1.jpg"],
        ["cmyk-adobe.jpg", "cmyk-adobe-progressive.jpg"],
        ["base-q90.jpg", "progressive-q90.jpg", "restart-q90.jpg"],
    ]

    @Test func losslessTranscodesShareAKey() throws {
        var keys: [String] = []
        for group in Self.transcodes {
            let digests = try group.map { try fileDigest(fixture($0)) }
            #expect(digests.allSatisfy { $0.hasPrefix("jpeg-dct-sha256:") }, "\(group)")
            #expect(Set(digests).count == 1, "\(group): \(digests)")
            keys.append(digests[0])
        }
        #expect(Set(keys).count == Self.transcodes.count)
    }

    @Test func movedOrRequantisedCoefficientsNeverShare() throws {
        let names = ["transcode-420.jpg", "transcode-420-rotate90.jpg", "transcode-420-flip.jpg", "transcode-420-q84.jpg", "base-q90.jpg", "base-q50.jpg"]
        let digests = try names.map { try fileDigest(fixture($0)) }
        #expect(digests.allSatisfy { $0.hasPrefix("jpeg-dct-sha256:") })
        #expect(Set(digests).count == names.count, "\(digests)")
    }

    /// One quantisation value changed (the coefficients stay): other pixels, another key; the table's
    /// slot does not count, only the values each component uses.
    @Test func quantisationValuesCountNotTheirSlot() throws {
        let base = try fixture("transcode-grey.jpg")
        let reference = try fileDigest(base)
        let dqt = try #require(segments(of: base).first { $0.marker == 0xDB })
        var changed = base
        changed[dqt.payload.upperBound - 1] &+= 1  // the last value of the last table, in zig-zag order
        let changedDigest = try fileDigest(changed)
        #expect(changedDigest.hasPrefix("jpeg-dct-sha256:") && changedDigest != reference)
        // The grey image's only table moved from slot 0 to slot 2, in the DQT and in the frame header.
        var moved = base
        #expect(moved[dqt.payload.lowerBound] == 0x00)
        moved[dqt.payload.lowerBound] = 0x02
        let frame = try #require(segments(of: base).first { $0.marker == 0xC0 })
        moved[frame.payload.lowerBound + 8] = 2
        #expect(try fileDigest(moved) == reference)
        // An unused table added changes nothing either.
        let extra = insertingSegment(0xDB, [0x03] + [UInt8](repeating: 7, count: 64), into: base, afterSegments: 1)
        #expect(try fileDigest(extra) == reference)
    }

    @Test func coefficientsAreReadAsTheFrameDescribes() throws {
        let file = try fixture("transcode-420-progressive.jpg")
        let image = try file.withUnsafeBufferPointer { bytes in
            try JPEGCoefficients.decode(bytes, records: JPEGFile.read(bytes).records, limits: ImageLimits())
        }
        #expect(image.width == 45 && image.height == 29 && image.progressive)
        #expect(image.components.map(\.identifier) == [1, 2, 3])
        #expect(image.components.map(\.widthInBlocks) == [6, 3, 3])
        #expect(image.components.map(\.heightInBlocks) == [4, 2, 2])
        #expect(image.components.map(\.storedWidth) == [6, 3, 3])
        let baseline = try fixture("transcode-420.jpg").withUnsafeBufferPointer { bytes in
            try JPEGCoefficients.decode(bytes, records: JPEGFile.read(bytes).records, limits: ImageLimits())
        }
        #expect(!baseline.progressive)
        #expect(baseline.coefficients == image.coefficients)
        #expect(baseline.components.map(\.quantisation) == image.components.map(\.quantisation))
        #expect(image.coefficients.contains { $0 != 0 })
    }

    @Test func notesSayWhatTheKeyIsOver() throws {
        #expect(try canonicalizeFile(fixture("transcode-420-progressive.jpg")).notes == [
            "file: JPEG 45×29 3 components progressive, keyed on DCT coefficients"
        ])
        #expect(try canonicalizeFile(fixture("transcode-grey.jpg")).notes == [
            "file: JPEG 37×21 1 component baseline, keyed on DCT coefficients"
        ])
        var arithmetic = try fixture("transcode-grey.jpg")
        let frame = try #require(segments(of: arithmetic).first { $0.marker == 0xC0 })
        arithmetic[frame.payload.lowerBound - 3] = 0xC9
        let request = try canonicalizeFile(arithmetic)
        #expect(request.notes == [
            "file: JPEG 37×21 1 component SOF9, keyed on segments and scan data (arithmetic coding is not decoded)"
        ])
        #expect(request.canonicalForm["file"]?.stringValue?.hasPrefix("jpeg-scan-sha256:") == true)
    }

    /// Files the reader cannot read exactly keep the segment digest of scheme version 4; the reason is in
    /// the note.
    @Test func unsupportedOrDamagedFilesFallBackToTheirSegments() throws {
        let base = try fixture("transcode-420.jpg")
        let progressive = try fixture("transcode-420-progressive.jpg")
        let restarts = try fixture("transcode-420-restart1.jpg")
        let frame = try #require(segments(of: base).first { $0.marker == 0xC0 })
        let scan = try #require(segments(of: base).first { $0.marker == 0xDA })
        var twelveBit = base
        twelveBit[frame.payload.lowerBound] = 12
        var lossless = base
        lossless[frame.payload.lowerBound - 3] = 0xC3
        var badRestart = restarts
        let restartScan = try #require(segments(of: restarts).first { $0.marker == 0xDA })
        let rst = try #require((restartScan.payload.upperBound..<restarts.count - 1).first { restarts[$0] == 0xFF && restarts[$0 + 1] == 0xD0 })
        badRestart[rst + 1] = 0xD3
        let lastScan = try #require(segments(of: progressive).last { $0.marker == 0xDA })
        let incomplete = Array(progressive[..<(lastScan.payload.lowerBound - 4)]) + [0xFF, 0xD9]
        let truncated = Array(base[..<(scan.payload.upperBound + 40)]) + [0xFF, 0xD9]
        let extra = Array(base.dropLast(2)) + [0x12, 0x34, 0xFF, 0xD9]
        var duplicateIdentifier = base
        duplicateIdentifier[frame.payload.lowerBound + 9] = duplicateIdentifier[frame.payload.lowerBound + 6]
        let cases: [(String, [UInt8], String)] = [
            ("12-bit", twelveBit, "12-bit samples are not decoded"),
            ("lossless", lossless, "lossless coding is not decoded"),
            ("restart marker out of order", badRestart, "a missing or out-of-order restart marker"),
            ("progressive without its last scan", incomplete, "coefficients never coded to their last bit"),
            ("scan data cut short", truncated, "scan data ends inside a block"),
            ("bytes after the last block", extra, "extra data after a scan's last block"),
            ("two components with one identifier", duplicateIdentifier, "two components with one identifier"),
        ]
        for (label, file, reason) in cases {
            let request = try canonicalizeFile(file)
            let digest = try #require(request.canonicalForm["file"]?.stringValue)
            #expect(digest.hasPrefix("jpeg-scan-sha256:"), "\(label)")
            #expect(digest == segmentDigest(file), "\(label)")
            #expect(request.notes.first?.contains("keyed on segments and scan data (\(reason))") == true, "\(label): \(request.notes)")
        }
    }

    /// Every cut and many bit flips of the scan data: a digest of either kind, never a trap; a flip early
    /// in the data never keeps the key.
    @Test func damagedScanDataNeverTraps() throws {
        for name in ["transcode-420-progressive-restart2b.jpg", "transcode-422.jpg", "cmyk-adobe-progressive.jpg"] {
            let file = try fixture(name)
            let reference = try fileDigest(file)
            let scan = try #require(segments(of: file).first { $0.marker == 0xDA })
            let start = scan.payload.upperBound
            for cut in stride(from: start, to: file.count - 2, by: 7) {
                _ = try fileDigest(Array(file[..<cut]) + [0xFF, 0xD9])
            }
            // The first scan's entropy-coded data, up to its first marker; restart intervals end in padding
            // bits that may change freely, so bytes before a marker are left alone.
            let end = try #require((start..<file.count - 1).first { file[$0] == 0xFF && file[$0 + 1] != 0 })
            for offset in stride(from: start, to: start + (end - start) / 2, by: 3)
            where file[offset] != 0xFF && file[offset] != 0 && file[offset + 1] != 0xFF {
                var flipped = file
                flipped[offset] ^= 0x10
                guard flipped[offset] != 0xFF else { continue }
                #expect(try fileDigest(flipped) != reference, "\(name) at \(offset)")
            }
        }
    }

    @Test func aHuffmanTableWhoseCodesDoNotFitIsRefusedBeforeItIsFilledIn() throws {
        // Found by scripts/fuzz.sh: three codes of length 1 ran past the 8-bit lookahead table.
        func table(_ counts: [UInt8], _ symbols: [UInt8]) throws(JPEGCoefficients.Unsupported) -> JPEGHuffmanTable {
            var counts = counts + [UInt8](repeating: 0, count: 16 - counts.count)
            var symbols = symbols
            return try counts.withUnsafeMutableBufferPointer { counts throws(JPEGCoefficients.Unsupported) in
                try symbols.withUnsafeMutableBufferPointer { symbols throws(JPEGCoefficients.Unsupported) in
                    try JPEGHuffmanTable(counts: UnsafeBufferPointer(counts), symbols: UnsafeBufferPointer(symbols))
                }
            }
        }
        for counts in [[3], [2], [1, 3], [0, 0, 8], [0, 255]] as [[UInt8]] {
            let symbols = [UInt8](repeating: 1, count: counts.reduce(0) { $0 + Int($1) })
            #expect(throws: JPEGCoefficients.Unsupported.self) { try table(counts, symbols) }
        }
        #expect(try table([1, 1, 1], [0, 1, 2]).symbols == [0, 1, 2])  // 0, 10, 110: fits, no code all ones
    }

    @Test func aJPEGPastTheImageLimitsIsKeyedOnItsSegmentsNeverRefused() throws {
        let file = try fixture("transcode-420.jpg")  // 45×29 = 1 305 pixels; 18 + 2 × 4 (padded) blocks
        let segments = try fileDigest(file, canonicalizer: Canonicalizer(imageLimits: ImageLimits(maxPixels: 1_304)))
        #expect(segments.hasPrefix("jpeg-scan-sha256:"))
        let coefficientBytes = (24 + 6 + 6) * 64 * 2
        #expect(try fileDigest(file, canonicalizer: Canonicalizer(imageLimits: ImageLimits(maxDecodedBytes: coefficientBytes - 1))) == segments)
        let enough = Canonicalizer(imageLimits: ImageLimits(maxPixels: 1_305, maxDecodedBytes: coefficientBytes))
        #expect(try fileDigest(file, canonicalizer: enough).hasPrefix("jpeg-dct-sha256:"))
    }
}

/// A JPEG's segments before the first scan's data, and the first scan header.
private func segments(of jpeg: [UInt8]) -> [(marker: UInt8, payload: Range<Int>)] {
    var result: [(marker: UInt8, payload: Range<Int>)] = []
    var position = 2
    while position + 4 <= jpeg.count, jpeg[position] == 0xFF {
        let marker = jpeg[position + 1]
        let length = Int(jpeg[position + 2]) << 8 | Int(jpeg[position + 3])
        result.append((marker, position + 4..<position + 2 + length))
        position += 2 + length
        if marker == 0xDA {
            // Skip the entropy-coded data to the next marker that is not RSTn or a stuffed byte.
            while position + 1 < jpeg.count,
                  !(jpeg[position] == 0xFF && jpeg[position + 1] != 0 && !(0xD0...0xD7).contains(jpeg[position + 1])) {
                position += 1
            }
            if position + 1 < jpeg.count, jpeg[position + 1] == 0xD9 { break }
        }
    }
    return result
}

/// The scheme-version-4 segment digest of a well-formed JPEG, as the fallback writes it.
private func segmentDigest(_ jpeg: [UInt8]) -> String? {
    jpeg.withUnsafeBufferPointer { bytes in
        (try? JPEGFile.read(bytes)).map { ContentDigest(kind: .jpegScan, digest: CacheKey(digest: JPEGFile.segmentDigest($0, bytes: bytes))).description }
    }
}
