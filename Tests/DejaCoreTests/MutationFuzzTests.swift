import Foundation
import Testing

@testable import DejaCore

/// Seeded, bounded mutation fuzzing of the readers that see untrusted bytes: valid seeds are bit-flipped,
/// truncated, spliced, have length fields corrupted and chunks duplicated. The readers must return (a
/// digest, a fallback or a typed error) and never trap. The libFuzzer target in Fuzz/ runs the same
/// readers for as long as you like (scripts/fuzz.sh).
@Suite struct MutationFuzzTests {
    static let limits = ImageLimits(maxPixels: 1 << 20, maxDecodedBytes: 8 << 20)

    static func imageSeeds() throws -> [[UInt8]] {
        var palette = TestPNG(width: 11, height: 7, bitDepth: 2, colourType: 3) { x, y, _ in x + y }
        palette.palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
        palette.transparency = [0, 128]
        return [
            gradientImage(width: 12, height: 9).encode(filter: .cycle, before: [("tEXt", utf8("a\0b")), ("eXIf", tiff(bigEndian: true, orientation: 6))]),
            palette.encode(interlaced: true),
            TestPNG(width: 9, height: 5, bitDepth: 16, colourType: 4) { x, y, c in x * 4_000 + y * 99 + c }.encode(level: .noCompression, interlaced: true, idatSize: 40),
            try fixture("base-q90.jpg"),
            try fixture("progressive-q90.jpg"),
            insertingSegment(0xE1, utf8("Exif\0\0") + tiff(bigEndian: false, orientation: 3), into: try fixture("restart-q90.jpg")),
            try fixture("transcode-420-progressive-restart2b.jpg"),
            try fixture("cmyk-adobe-progressive.jpg"),
        ]
    }

    static func mutate(_ input: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var data = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !data.isEmpty else { return data }
            let at = Int.random(in: 0..<data.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: data[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: data[at] = UInt8.random(in: 0...255, using: &rng)
            case 2: data.removeSubrange(at...)
            case 3:
                let end = min(data.count, at + Int.random(in: 1...64, using: &rng))
                data.insert(contentsOf: data[at..<end], at: Int.random(in: 0...data.count, using: &rng))
            case 4:
                let end = min(data.count, at + Int.random(in: 1...64, using: &rng))
                data.removeSubrange(at..<end)
            case 5:
                // A length field: big-endian 32 (PNG) or 16 (JPEG) bits set to an interesting value.
                let values: [UInt32] = [0, 1, 2, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, UInt32(data.count)]
                let value = values.randomElement(using: &rng)!
                for k in 0..<min(4, data.count - at) { data[at + k] = UInt8(truncatingIfNeeded: value >> UInt32(24 - 8 * k)) }
            case 6:
                data.insert(contentsOf: [0xFF, [0xD8, 0xD9, 0xDA, 0xD0, 0xE1, 0xFE, 0xC4, 0x00].randomElement(using: &rng)!], at: at)
            default:
                data[at] = [0, 0xFF, 0x7F, 0x80].randomElement(using: &rng)!
            }
        }
        return data
    }

    @Test func imageReadersNeverTrap() throws {
        var rng = SeededGenerator(seed: 0xDE7A)
        let seeds = try Self.imageSeeds()
        var outcomes: [String: Int] = [:]
        for iteration in 0..<3_000 {
            var data = Self.mutate(seeds[iteration % seeds.count], &rng)
            // Half the PNGs get their CRCs repaired so that mutations reach the inflater and unfilter.
            if iteration % 2 == 0, data.starts(with: PNGFile.signature) { data = fixingCRCs(data) }
            let result = data.withUnsafeBufferPointer { bytes in
                Result { () throws(ImageContent.TooLarge) in try ImageContent.digest(of: bytes, limits: Self.limits, cache: nil, scope: "shared") }
            }
            switch result {
            case .success(let outcome):
                outcomes[outcome.digest.kind.rawValue, default: 0] += 1
                if outcome.digest.kind == .bytes {
                    #expect(outcome.digest == data.withUnsafeBufferPointer { ImageContent.plain($0) })
                }
            case .failure:
                outcomes["too large", default: 0] += 1
            }
        }
        // The mutations must exercise both the decoders and the fallback, or this test proves little.
        // (Few mutated PNGs still decode completely: most changes break the Adler-32 or a row.)
        #expect(outcomes["png-pixels-sha256", default: 0] > 10)
        #expect(outcomes["jpeg-dct-sha256", default: 0] > 50)
        #expect(outcomes["jpeg-scan-sha256", default: 0] > 20)
        #expect(outcomes["sha256", default: 0] > 500)
    }

    /// The fuzzer's entry point for the coefficient reader over the same mutations (it traps on a broken
    /// invariant, so a failure here is a crash).
    @Test func jpegCoefficientReaderKeepsItsInvariants() throws {
        var rng = SeededGenerator(seed: 0xDC7)
        let seeds = try Self.imageSeeds().filter { $0.starts(with: [0xFF, 0xD8, 0xFF]) }
        #expect(seeds.count == 5)
        for iteration in 0..<2_000 {
            JPEGCoefficients.fuzz(Self.mutate(seeds[iteration % seeds.count], &rng))
        }
    }

    @Test func jsonAndBase64ReadersNeverTrap() throws {
        var rng = SeededGenerator(seed: 0xB64)
        let seeds = [
            utf8(#"{"file": "QUJD", "fileType": 1, "n": [1.5e10, -0.0, 1E+400, "\u00e9\ud83d\ude00"], "o": {"a": null, "b": true}}"#),
            utf8("{\"file\": \"data:image/png;base64,iVBORw0KGgo=\", \"t\": \"caf\u{e9}\"}"),
            utf8(#"[{"a":{"b":[[[]]]}}, "x\\n\"", 123456789012345678901234567890]"#),
        ]
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", defaults: ["fileType": 1])
        var accepted = 0
        for iteration in 0..<3_000 {
            let body = Self.mutate(seeds[iteration % seeds.count], &rng)
            if (try? Canonicalizer(imageLimits: Self.limits).canonicalize(body: body, policy: policy, scope: nil)) != nil { accepted += 1 }
            let decoded = body.withUnsafeBufferPointer { Base64.decode($0) }
            if case .success(let (bytes, _)) = decoded {
                let again = Base64.encode(bytes).utf8.withContiguousStorageIfAvailable { Base64.decode($0) }
                if case .success(let (roundTrip, findings))? = again {
                    #expect(roundTrip == bytes)
                    #expect(findings.isCanonical)
                }
            }
        }
        #expect(accepted > 20)
    }
}
