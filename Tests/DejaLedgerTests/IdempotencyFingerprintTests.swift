@testable import DejaLedger
import Testing

@Suite struct IdempotencyFingerprintTests {
    @Test func isExactly32BytesSpelledAs64HexDigits() throws {
        let bytes = (0..<32).map { UInt8($0 * 8 + 1) }
        let fingerprint = try #require(IdempotencyFingerprint(bytes: bytes))
        #expect(fingerprint.bytes == bytes)
        #expect(fingerprint.hex == "0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9")
        #expect(IdempotencyFingerprint(hex: fingerprint.hex) == fingerprint)
        #expect(IdempotencyFingerprint(hex: fingerprint.hex.uppercased()) == fingerprint)
        #expect(IdempotencyFingerprint(bytes: bytes.dropLast()) == nil)
        #expect(IdempotencyFingerprint(bytes: bytes + [0]) == nil)
        #expect(IdempotencyFingerprint(hex: String(fingerprint.hex.dropLast())) == nil)
        #expect(IdempotencyFingerprint(hex: String(fingerprint.hex.dropLast()) + "g") == nil)
        #expect(IdempotencyFingerprint(hex: fingerprint.hex + "00") == nil)
    }
}
