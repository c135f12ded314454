import NIOCore
import Testing

@testable import DejaCore

@Suite struct JSONParserTests {
    @Test func parsesAllValueKindsKeepingMemberOrder() throws {
        let value = try parse(#" { "z" : [1, -2.5e1, true, false, null], "a" : {"y": "x", "b": {}} , "m": [] } "#)
        let members = try #require(value.objectValue)
        #expect(members.map(\.key) == ["z", "a", "m"])
        #expect(value["z"] == [1, .number(JSONNumber("-25")!), true, false, nil])
        #expect(value["a"]?.objectValue?.map(\.key) == ["y", "b"])
        #expect(value["m"] == [])
    }

    @Test func decodesEveryEscape() throws {
        let value = try parse(#"{"\u0066ile": "\"\\\/\b\f\n\r\t\u00e9\u00E9\ud83d\ude00\u0000"}"#)
        #expect(value["file"]?.stringValue == "\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{e9}\u{1F600}\u{0}")
    }

    @Test func keepsRawUTF8() throws {
        let value = try parse("{\"k\": \"h\u{e9}llo \u{1F600} \u{4E2D}\"}")
        #expect(value["k"]?.stringValue == "h\u{e9}llo \u{1F600} \u{4E2D}")
    }

    @Test(arguments: [
        (#"{"a": "\ud83d"}"#, "$.a"),
        (#"{"a": "\ud83dx"}"#, "$.a"),
        (#"{"a": "\ud83d\u0041"}"#, "$.a"),
        (#"{"a": "\ude00"}"#, "$.a"),
        (#"{"a": ["\uDC00"]}"#, "$.a[0]"),
    ])
    func rejectsLoneSurrogates(text: String, path: String) {
        let error = parseError(text)
        #expect(error?.code == .invalidEscape)
        #expect(error?.path == path)
    }

    @Test func rejectsUnknownEscapesAndShortUnicodeEscapes() {
        #expect(parseError(#"{"a": "\x"}"#)?.code == .invalidEscape)
        #expect(parseError(#"{"a": "\u12"}"#)?.code == .invalidEscape)
        #expect(parseError(#"{"a": "\u12g4"}"#)?.code == .invalidEscape)
    }

    @Test(arguments: [
        [0xFF], [0xC3], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0xAF],
    ] as [[UInt8]])
    func rejectsInvalidUTF8InStrings(bad: [UInt8]) {
        let plain = utf8(#"{"ok": 1, "bad": ""#) + bad + utf8(#""}"#)
        let escaped = utf8(#"{"ok": 1, "bad": "\n"#) + bad + utf8(#""}"#)
        for body in [plain, escaped] {
            let error = thrownError { _ = try JSONValue(parsing: body) }
            #expect(error?.code == .invalidUTF8)
            #expect(error?.path == "$.bad")
        }
    }

    @Test func rejectsInvalidUTF8InMemberNames() {
        let error = thrownError { _ = try JSONValue(parsing: utf8(#"{""#) + [0xFF] + utf8(#"": 1}"#)) }
        #expect(error?.code == .invalidUTF8)
    }

    @Test func rejectsDuplicateKeysComparedAfterUnescaping() {
        let error = parseError(#"{"a": 1, "\u0061": 2}"#)
        #expect(error?.code == .duplicateKey)
        #expect(error?.path == "$.a")
        #expect(parseError(#"{"items": [{"x": 1}, {"y": 2, "x": 3, "x": 4}]}"#)?.path == "$.items[1].x")
    }

    @Test func rejectsDuplicateKeysInLargeObjects() {
        let members = (0..<50).map { "\"k\($0)\": \($0)" }.joined(separator: ",")
        #expect(parseError("{\(members)}") == nil)
        let error = parseError("{\(members), \"k7\": 0}")
        #expect(error?.code == .duplicateKey)
        #expect(error?.path == "$.k7")
        #expect(parseError("{\(members), \"k49\": 0}")?.code == .duplicateKey)
    }

    @Test func keysThatDifferInBytesAreDistinctEvenIfCanonicallyEquivalent() throws {
        let value = try parse("{\"\u{e9}\": 1, \"e\u{301}\": 2}")
        #expect(value.objectValue?.count == 2)
    }

    @Test func enforcesDepthLimit() {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(parseError(ok) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = parseError(deep)
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$" + String(repeating: "[0]", count: 64))
        let objects = String(repeating: #"{"a":"#, count: 5) + "1" + String(repeating: "}", count: 5)
        #expect(parseError(objects, limits: JSONLimits(maxDepth: 4))?.code == .limitExceeded)
        #expect(parseError(objects, limits: JSONLimits(maxDepth: 5)) == nil)
    }

    @Test func enforcesSizeLimits() {
        let limits = JSONLimits(maxStringBytes: 8, maxMembers: 3, maxTotalFields: 5, maxNumberLength: 10)
        #expect(parseError(#"{"s": "12345678"}"#, limits: limits) == nil)
        #expect(parseError(#"{"s": "123456789"}"#, limits: limits)?.code == .limitExceeded)
        #expect(parseError(#"{"s": "1234567\n89"}"#, limits: limits)?.code == .limitExceeded)
        #expect(parseError(#"{"a": [1, 2, 3]}"#, limits: limits) == nil)
        #expect(parseError(#"{"a": [1, 2, 3, 4]}"#, limits: limits)?.path == "$.a[3]")
        #expect(parseError(#"{"a": 1, "b": 2, "c": 3, "d": 4}"#, limits: limits)?.code == .limitExceeded)
        #expect(parseError(#"{"a": [1, 2], "b": [3, 4]}"#, limits: limits)?.code == .limitExceeded)
        #expect(parseError(#"{"n": 1234567890}"#, limits: limits) == nil)
        #expect(parseError(#"{"n": 12345678901}"#, limits: limits)?.code == .limitExceeded)
    }

    @Test func rejectsAMegabyteNumberLiteralByDefault() {
        let error = parseError(#"{"n": "# + String(repeating: "9", count: 1 << 20) + "}")
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$.n")
    }

    @Test func rejectsTrailingData() {
        for text in [#"{} x"#, #"{}{}"#, #"{"a":1}]"#, "{} \u{0}"] {
            let error = parseError(text)
            #expect(error?.code == .invalidJSON, "\(text)")
            #expect(error?.path == "$")
        }
    }

    @Test func rejectsEmptyBodies() {
        for text in ["", "   ", "\n\t\r "] {
            #expect(parseError(text)?.code == .emptyBody)
            #expect(parseError(text)?.path == "$")
        }
    }

    @Test(arguments: [
        "[1,]", #"{"a" 1}"#, #"{"a":1,}"#, "[1 2]", "01", "1.", ".5", "+1", "-", "1e", "1e+", "--1", "0x10", "tru",
        "nul", "True", "NaN", "Infinity", "'a'", #"{a: 1}"#, "[", "{", #"{"a""#, #"{"a":"#, "\"abc", "\u{FEFF}{}",
        "\"a\nb\"", "\"\u{1}\"", "[1,,2]", "{,}", #"{"a":1 "b":2}"#,
    ])
    func rejectsMalformedJSON(text: String) {
        #expect(parseError(text)?.code == .invalidJSON)
    }

    @Test func errorDescriptionsCarryNoContent() {
        let secret = "SECRET-VALUE-123"
        let bodies: [[UInt8]] = [
            utf8("{\"a\": \"\(secret)") + [0xFF] + utf8("\"}"),
            utf8("{\"a\": \"\(secret)\", \"a\": \"\(secret)\"}"),
            utf8("{\"a\": \"\(secret)\\ud800\"}"),
            utf8("{\"a\": \"\(secret)\"} \(secret)"),
        ]
        for body in bodies {
            let error = thrownError { _ = try JSONValue(parsing: body) }
            #expect(error != nil)
            #expect(error.map { !String(describing: $0).contains("SECRET") } == true)
        }
    }

    @Test func unusualMemberNamesAreQuotedInPaths() {
        #expect(parseError(#"{"a b": [1, tru]}"#)?.path == #"$["a b"][1]"#)
        let long = String(repeating: "k", count: 100)
        #expect(parseError("{\"\(long)\": tru}")?.path == "$[<name of 100 bytes>]")
    }

    @Test func parsesByteBuffersAndNonContiguousCollections() throws {
        let text = #"{"a": [1, "x"]}"#
        let expected = try parse(text)
        #expect(try JSONValue(parsing: ByteBuffer(string: text)) == expected)
        #expect(try JSONValue(parsing: utf8(text).lazy.map { $0 }) == expected)
        var buffer = ByteBuffer(string: "xx" + text)
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try JSONValue(parsing: buffer) == expected)
    }

    @Test func parsesLongBase64StringsIntact() throws {
        var generator = SeededGenerator(seed: 7)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let payload = (0..<1_000_003).map { _ in alphabet[Int(generator.next() % 64)] }
        let body = utf8(#"{"file": ""#) + payload + utf8(#"", "x": "\u00e9"}"#)
        let value = try JSONValue(parsing: body)
        #expect(value["file"]?.stringValue?.utf8.elementsEqual(payload) == true)
        #expect(value["x"]?.stringValue == "\u{e9}")
    }
}
