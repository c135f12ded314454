import Testing

@testable import DejaCore

@Suite struct JSONWriterTests {
    @Test func serializedKeepsMemberOrder() throws {
        let value = try parse(#" {"z": 1.50, "a": [true, null, "x"], "m": {"b": 1e2, "a": -0}} "#)
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"z":1.5,"a":[true,null,"x"],"m":{"b":100,"a":0}}"#)
    }

    @Test func canonicalBytesSortMembersAtEveryLevel() throws {
        #expect(try canonical(#"{"z": 1, "a": [{"y": 2, "x": 1}], "m": {"b": 1, "a": 2}}"#)
            == #"{"a":[{"x":1,"y":2}],"m":{"a":2,"b":1},"z":1}"#)
    }

    @Test func canonicalOrderIsByUTF8Bytes() throws {
        // Byte order: "B" (42) < "a" (61) < "e\u{301}" (65 CC 81) < "\u{e9}" (C3 A9) < "\u{1F600}" (F0 ...).
        let text = "{\"\u{1F600}\": 5, \"\u{e9}\": 4, \"e\u{301}\": 3, \"a\": 2, \"B\": 1}"
        #expect(try canonical(text) == "{\"B\":1,\"a\":2,\"e\u{301}\":3,\"\u{e9}\":4,\"\u{1F600}\":5}")
    }

    @Test func stringsUseMinimalEscapes() throws {
        let value: JSONValue = ["s": .string("q\"b\\s/\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}\u{e9}\u{2028}\u{1F600}")]
        let text = String(decoding: value.canonicalBytes(), as: UTF8.self)
        #expect(text == "{\"s\":\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}\u{e9}\u{2028}\u{1F600}\"}")
        #expect(try JSONValue(parsing: value.canonicalBytes()) == value)
        #expect(try JSONValue(parsing: value.serialized()) == value)
    }

    @Test func escapeSpellingWhiteSpaceAndNumberSpellingDoNotMatter() throws {
        let a = try canonical(#"{"file":"abc","n":1,"t":"\u00e9/"}"#)
        let b = try canonical("{ \"t\" : \"\\u00E9\\/\" ,\n\t\"\\u0066ile\" : \"a\\u0062c\" , \"n\" : 10E-1 }")
        let c = try canonical("{\"n\":1.0,\"t\":\"\u{e9}/\",\"file\":\"abc\"}")
        #expect(a == b)
        #expect(a == c)
        #expect(a == "{\"file\":\"abc\",\"n\":1,\"t\":\"\u{e9}/\"}")
    }

    @Test func equalityIsExact() throws {
        #expect(try parse(#"{"a":1,"b":2}"#) != parse(#"{"b":2,"a":1}"#))
        #expect(JSONValue.string("\u{e9}") != .string("e\u{301}"))
        #expect(try parse(#"{"a":1.0}"#) == parse(#"{"a":1}"#))
    }

    @Test func accessors() throws {
        let value = try parse(#"{"a": [1, "s", true, null, {"k": 2}]}"#)
        #expect(value["a"]?[0]?.numberValue == JSONNumber(1))
        #expect(value["a"]?[1]?.stringValue == "s")
        #expect(value["a"]?[2]?.boolValue == true)
        #expect(value["a"]?[3]?.isNull == true)
        #expect(value["a"]?[4]?["k"] == 2)
        #expect(value["a"]?[5] == nil)
        #expect(value["missing"] == nil)
        #expect(value.kindName == "object")
    }
}
