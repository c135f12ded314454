import Foundation
import Testing

@testable import DejaCore

@Suite struct Base64Tests {
    func decode(_ text: String) -> Result<(bytes: [UInt8], findings: Base64.Findings), Base64.Failure> {
        var text = text
        return text.withUTF8 { Base64.decode($0) }
    }

    @Test func encodeMatchesFoundationForAllTailLengths() {
        var generator = SeededGenerator(seed: 5)
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
            guard case .success(let decoded) = decode(Base64.encode(bytes)) else {
                Issue.record("round trip failed at length \(length)")
                continue
            }
            #expect(decoded.bytes == bytes)
            #expect(decoded.findings.isCanonical)
        }
    }

    @Test func findingsDescribeNonCanonicalSpellings() throws {
        #expect(try decode("QUJD\r\nRA==").get().findings == Base64.Findings(lineBreaks: true))
        #expect(try decode("QUJD RA==").get().findings == Base64.Findings(otherWhitespace: true))
        #expect(try decode("QUJDRA").get().findings == Base64.Findings(missingPadding: true))
        #expect(try decode("-_-_").get().findings == Base64.Findings(urlSafeAlphabet: true))
        #expect(try decode("QR==").get().findings == Base64.Findings(nonZeroTrailingBits: true))
        #expect(try decode("QR==").get().bytes == utf8("A"))
        #expect(try decode("QUJDRA").get().bytes == utf8("ABCD"))
    }

    @Test func failures() {
        #expect(throws: Base64.Failure.invalidCharacter(offset: 2)) { try decode("QU*D").get() }
        #expect(throws: Base64.Failure.dataAfterPadding(offset: 4)) { try decode("QQ==QUJD").get() }
        #expect(throws: Base64.Failure.tooMuchPadding(offset: 6)) { try decode("QUJD===").get() }
        #expect(throws: Base64.Failure.truncatedGroup) { try decode("QUJDR").get() }
        #expect(throws: Base64.Failure.paddingWithoutData) { try decode("QUJ==").get() }
        #expect(throws: Base64.Failure.paddingWithoutData) { try decode("QUJD=").get() }
    }

    @Test func decodesRandomSpellingsExactly() throws {
        var generator = SeededGenerator(seed: 11)
        for round in 0..<500 {
            let bytes = (0..<Int(generator.next() % 200 + 1)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            var text = Data(bytes).base64EncodedString()
            if generator.next() % 2 == 0 { text = String(text.prefix { $0 != "=" }) }
            if generator.next() % 2 == 0 {
                text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            }
            var spaced = ""
            for character in text {
                if generator.next() % 7 == 0 { spaced += ["\r\n", "\n", " ", "\t"][Int(generator.next() % 4)] }
                spaced.append(character)
            }
            let decoded = try decode(spaced).get()
            #expect(decoded.bytes == bytes, "round \(round)")
        }
    }
}
