import Testing

@testable import DejaCore

/// Scanning and redacting JSON answers: string values only, every other byte kept, always valid JSON.
@Suite struct SensitiveJSONTests {
    /// A PaddleX OCR answer as the model server writes it.
    static let ocrAnswer = #"{"logId":"x","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[{"prunedResult":{"rec_texts":["增值税普通发票","购买方 身份证号 11010519491231002X","电话","13800138000","合计 ¥1,234.50"],"rec_scores":[0.99,0.98,0.97,0.99,0.95],"rec_polys":[[[1,2],[3,4]]]},"ocrImage":null}],"dataInfo":{"width":800,"height":600,"type":"image"}}}"#

    static let redactedOCRAnswer = #"{"logId":"x","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[{"prunedResult":{"rec_texts":["增值税普通发票","购买方 身份证号 110105********002X","电话","138****8000","合计 ¥1,234.50"],"rec_scores":[0.99,0.98,0.97,0.99,0.95],"rec_polys":[[[1,2],[3,4]]]},"ocrImage":null}],"dataInfo":{"width":800,"height":600,"type":"image"}}}"#

    @Test func anOCRAnswerIsScannedStringByString() {
        #expect(SensitiveScanner.matches(inJSON: Array(Self.ocrAnswer.utf8)) == [
            SensitiveMatch(kind: .idNumber, text: "11010519491231002X", masked: "110105********002X"),
            SensitiveMatch(kind: .mobile, text: "13800138000", masked: "138****8000"),
        ])
    }

    @Test func redactingAnOCRAnswerMasksOnlyTheMatchedCharacters() throws {
        let input = Array(Self.ocrAnswer.utf8)
        let (output, counts) = SensitiveScanner.redact(json: input, kinds: Set(SensitiveKind.allCases))
        #expect(String(decoding: output, as: UTF8.self) == Self.redactedOCRAnswer)
        #expect(counts == [.idNumber: 1, .mobile: 1])
        _ = try JSONValue(parsing: output)
        #expect(output.count == input.count)
        #expect(zip(input, output).filter { $0 != $1 }.allSatisfy { $1 == UInt8(ascii: "*") })
        #expect(zip(input, output).count { $0 != $1 } == 8 + 4)
        #expect(SensitiveScanner.redact(json: input, kinds: [.email]) == (input, [:]))
        #expect(SensitiveScanner.redact(json: input, kinds: [.mobile]).counts == [.mobile: 1])
    }

    @Test func anEscapedAnswerIsDecodedAndKeepsItsEscapes() throws {
        // As Python's json.dumps(ensure_ascii=True) writes it.
        let escaped = Array(Self.asciiEscaped(Self.ocrAnswer).utf8)
        #expect(!escaped.contains { $0 >= 0x80 })
        #expect(SensitiveScanner.matches(inJSON: escaped).map(\.kind) == [.idNumber, .mobile])
        let (output, counts) = SensitiveScanner.redact(json: escaped, kinds: Set(SensitiveKind.allCases))
        #expect(String(decoding: output, as: UTF8.self) == Self.asciiEscaped(Self.redactedOCRAnswer))
        #expect(counts == [.idNumber: 1, .mobile: 1])
        #expect(try JSONValue(parsing: output) == JSONValue(parsing: Array(Self.redactedOCRAnswer.utf8)))
    }

    @Test func anEscapedMatchedCharacterBecomesOneStar() throws {
        let id = "11010519491231002X".unicodeScalars.map { "\\u00" + String($0.value, radix: 16) }
        let input = #"["\u8eab\u4efd\u8bc1 "# + id.joined() + #"", "a\/b@example.com", "\ud800 \u7535\u8bdd 13800138000 \ud83d\ude00"]"#
        let expected = #"["\u8eab\u4efd\u8bc1 "# + id.prefix(6).joined() + "********" + id.suffix(4).joined()
            + #"", "a**@example.com", "\ud800 \u7535\u8bdd 138****8000 \ud83d\ude00"]"#
        let (output, counts) = SensitiveScanner.redact(json: Array(input.utf8), kinds: Set(SensitiveKind.allCases))
        #expect(String(decoding: output, as: UTF8.self) == expected)
        #expect(counts == [.idNumber: 1, .email: 1, .mobile: 1])
    }

    @Test func keysAndNumbersAreNotScanned() {
        let input = #"{"13800138000":"x","11010519491231002X":4111111111111111,"phone":13800138000}"#
        #expect(SensitiveScanner.matches(inJSON: Array(input.utf8)).isEmpty)
        #expect(SensitiveScanner.redact(json: Array(input.utf8), kinds: Set(SensitiveKind.allCases)).counts.isEmpty)
    }

    @Test func eachStringsPreviousTextIsTheStringValueBeforeIt() {
        #expect(kinds(#"["电话", "13800138000 张三"]"#) == [.mobile])
        #expect(kinds(#"["电话", 5, null, {"name": "13800138000 张三"}]"#) == [.mobile])
        #expect(kinds(#"{"电话": "13800138000 张三"}"#).isEmpty)
        #expect(kinds(#"["电话", "合计", "13800138000 张三"]"#).isEmpty)
        #expect(kinds(#"["\u7535\u8bdd\uff1a", "13800138000 张三"]"#) == [.mobile])
    }

    @Test func validJSONThatTheStrictParserRejectsIsStillEditedAsJSON() {
        let input = #"{"a":"电话 13800138000","a":13800138000}"#
        let output = SensitiveScanner.redact(json: Array(input.utf8), kinds: [.mobile])
        #expect(String(decoding: output.bytes, as: UTF8.self) == #"{"a":"电话 138****8000","a":13800138000}"#)
    }

    @Test func bytesThatAreNotJSONAreMaskedAsText() {
        for (input, expected) in [
            ("电话 13800138000 {", "电话 138****8000 {"),
            (#"{"a":"身份证 11010519491231002X"#, #"{"a":"身份证 110105********002X"#),
            (#"["x", 13800138000, "电话"]]"#, #"["x", 13800138000, "电话"]]"#),
            ("电话 13800138000 \u{FF}", "电话 138****8000 \u{FF}"),
        ] {
            let output = SensitiveScanner.redact(json: Array(input.utf8), kinds: Set(SensitiveKind.allCases)).bytes
            #expect(String(decoding: output, as: UTF8.self) == expected)
        }
        let invalidUTF8: [UInt8] = Array("电话 13800138000 ".utf8) + [0xFF]
        #expect(SensitiveScanner.redact(json: invalidUTF8, kinds: [.mobile]).bytes == Array("电话 138****8000 ".utf8) + [0xFF])
        #expect(SensitiveScanner.matches(inJSON: Array("身份证 11010519491231002X".utf8)).map(\.kind) == [.idNumber])
    }

    @Test func theTokenScannerAcceptsWhatTheParserAcceptsAndMore() {
        var generator = SeededGenerator(seed: 32100)
        let original = Array(Self.ocrAnswer.utf8)
        let alphabet = Array(#""\:,{}[]0aXe.-+ u"#.utf8) + [0xE7, 0x94]
        var parsed = 0
        for _ in 0..<3_000 {
            var mutant = original
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let position = Int.random(in: 0..<mutant.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: mutant[position] = alphabet.randomElement(using: &generator)!
                case 1: mutant.remove(at: position)
                default: mutant.insert(alphabet.randomElement(using: &generator)!, at: position)
                }
            }
            let tokens = mutant.withUnsafeBufferPointer(JSONStringTokens.values)
            let redacted = SensitiveScanner.redact(json: mutant, kinds: Set(SensitiveKind.allCases)).bytes
            do {
                _ = try JSONValue(parsing: mutant)
                parsed += 1
                #expect(tokens != nil, "\(String(decoding: mutant, as: UTF8.self))")
                #expect((try? JSONValue(parsing: redacted)) != nil, "\(String(decoding: mutant, as: UTF8.self))")
            } catch {
                if tokens != nil {
                    #expect([.duplicateKey, .invalidEscape].contains(error.code), "\(String(decoding: mutant, as: UTF8.self))")
                }
            }
        }
        #expect(parsed > 100)
    }

    @Test func randomDocumentsStayValidAndChangeOnlyMaskedCharacters() throws {
        var generator = SeededGenerator(seed: 11643)
        let pieces = [
            "1", "0", "5", "8", "a", "X", " ", "-", "@", ".", "+86 ", "电话", "手机", "：", "身份证", "com", "卡号",
            #"\n"#, #"\""#, #"\\"#, #"\/"#, #"\u0031"#, #"\u0038"#, #"\u8eab"#, #"\ud83d\ude00"#, #"\u0040"#, #"\u002e"#, #"\t"#,
            "11010519491231002X", "13800138000", "138 0013 8000", "4111111111111111", "6222 0212 3456 7890 128", "ab@cd.com",
            "91350100M000100Y43", #"\u0031\u0033\u0038\u0030\u0030\u0031\u0033\u0038\u0030\u0030\u0030"#,
        ]
        var masked = 0
        for _ in 0..<400 {
            let strings = (0..<Int.random(in: 1...6, using: &generator)).map { _ in
                (0..<Int.random(in: 0...10, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            }
            let elements = strings.map { "\"\($0)\"" } + ["13800138000", "-1.5e3", "true", #"{"电话":"13800138000"}"#]
            let document = #"{"k": ["# + elements.shuffled(using: &generator).joined(separator: ", ") + #"], "n": null}"#
            let input = Array(document.utf8)
            let original = try JSONValue(parsing: input)
            let (output, counts) = SensitiveScanner.redact(json: input, kinds: Set(SensitiveKind.allCases))
            let redacted = try #require(try? JSONValue(parsing: output), "\(document)")
            #expect(counts.values.reduce(0, +) == SensitiveScanner.matches(inJSON: input).count)
            // Outside string contents nothing changed, and each string changed only where it now has a `*`.
            let (inputFrame, inputStrings) = Self.frameAndStrings(input)
            let (outputFrame, outputStrings) = Self.frameAndStrings(output)
            #expect(inputFrame == outputFrame, "\(document)")
            try #require(inputStrings.count == outputStrings.count)
            for (before, after) in zip(inputStrings, outputStrings) where before != after {
                masked += 1
                let old = try #require(try JSONValue(parsing: Array("\"\(before)\"".utf8)).stringValue).unicodeScalars
                let new = try #require(try JSONValue(parsing: Array("\"\(after)\"".utf8)).stringValue).unicodeScalars
                #expect(old.count == new.count)
                #expect(zip(old, new).allSatisfy { $0 == $1 || $1 == "*" }, "\(before) → \(after)")
            }
            #expect(Self.stringCount(original) == Self.stringCount(redacted))
        }
        #expect(masked > 100)
    }

    private func kinds(_ document: String) -> [SensitiveKind] {
        SensitiveScanner.matches(inJSON: Array(document.utf8)).map(\.kind)
    }

    /// `text` with every non-ASCII scalar written as a `\uxxxx` escape (surrogate pairs above U+FFFF).
    static func asciiEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                out.unicodeScalars.append(scalar)
            } else {
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                }
            }
        }
        return out
    }

    /// The document with each string token's content cut out, and the contents in order (as spelled).
    static func frameAndStrings(_ bytes: [UInt8]) -> (frame: [UInt8], strings: [String]) {
        var frame: [UInt8] = []
        var strings: [String] = []
        var index = 0
        while index < bytes.count {
            frame.append(bytes[index])
            guard bytes[index] == UInt8(ascii: "\"") else {
                index += 1
                continue
            }
            var end = index + 1
            while bytes[end] != UInt8(ascii: "\"") { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
            strings.append(String(decoding: bytes[index + 1..<end], as: UTF8.self))
            frame.append(bytes[end])
            index = end + 1
        }
        return (frame, strings)
    }

    static func stringCount(_ value: JSONValue) -> Int {
        switch value {
        case .string: 1
        case .array(let elements): elements.map(stringCount).reduce(0, +)
        case .object(let members): members.map { 1 + stringCount($0.value) }.reduce(0, +)
        default: 0
        }
    }
}
