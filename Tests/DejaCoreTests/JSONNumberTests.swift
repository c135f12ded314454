import Testing

@testable import DejaCore

@Suite struct JSONNumberTests {
    @Test(arguments: ["1", "1.0", "1e0", "10E-1", "0.1e1", "1.000e+0", "100e-2", "0.01E2", "1E+0"])
    func spellingsOfOneAreOne(literal: String) throws {
        let number = try #require(JSONNumber(literal))
        #expect(number.description == "1")
        #expect(number == JSONNumber(1))
    }

    @Test(arguments: [
        ("-0", "0"), ("-0.0e5", "0"), ("0e-10", "0"), ("0.000", "0"),
        ("1.50", "1.5"), ("1e2", "100"), ("-1E2", "-100"), ("0.001", "0.001"), ("123.4500", "123.45"),
        ("1e-7", "0.0000001"), ("1.5e-7", "0.00000015"), ("1e-8", "1e-8"), ("-1.25e-400", "-1.25e-400"),
        ("1e400", "1e+400"), ("12345e396", "1.2345e+400"), ("1e39", "1" + String(repeating: "0", count: 39)),
        ("1e40", "1e+40"),
        ("1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"),
        ("12345678901234567890123456789012345678901", "1.2345678901234567890123456789012345678901e+40"),
        ("0.1234567890123456789012345678901234567890", "0.123456789012345678901234567890123456789"),
    ])
    func canonicalSpelling(literal: String, spelling: String) throws {
        #expect(try #require(JSONNumber(literal)).description == spelling)
    }

    @Test func canonicalSpellingsAreValidJSONAndRoundTrip() throws {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<2_000 {
            let digits = String(generator.next() % 1_000_000_000 + 1)
            let exponent = Int(generator.next() % 1_000) - 500
            let sign = generator.next() % 2 == 0 ? "" : "-"
            let number = try #require(JSONNumber("\(sign)\(digits)e\(exponent)"))
            let reparsed = try #require(JSONNumber(number.description), "\(number)")
            #expect(reparsed == number)
            #expect(reparsed.description == number.description)
            #expect(try JSONValue(parsing: utf8("[\(number)]")) == [.number(number)])
        }
    }

    @Test(arguments: ["01", "1.", ".1", "-", "1e", "+1", "1e+", "--1", "1.e5", "0x1", "1e5.5", "", " 1", "1 ", "-01"])
    func rejectsMalformedLiterals(literal: String) {
        #expect(JSONNumber(literal) == nil)
    }

    @Test func rejectsHugeExponentsAsALimit() {
        #expect(JSONNumber("1e99999999999") == nil)
        #expect(JSONNumber("1e1000000000") != nil)
        #expect(parseError("[1e99999999999]")?.code == .limitExceeded)
    }

    @Test func int64Values() throws {
        #expect(JSONNumber("123")?.int64Value == 123)
        #expect(JSONNumber("1.23e2")?.int64Value == 123)
        #expect(JSONNumber("-0")?.int64Value == 0)
        #expect(JSONNumber("1.5")?.int64Value == nil)
        #expect(JSONNumber("9223372036854775807")?.int64Value == Int64.max)
        #expect(JSONNumber("-9223372036854775808")?.int64Value == Int64.min)
        #expect(JSONNumber("9223372036854775808")?.int64Value == nil)
        #expect(JSONNumber("1e19")?.int64Value == nil)
        #expect(JSONNumber(Int64.min).description == "-9223372036854775808")
        #expect(JSONNumber(-1200).description == "-1200")
        #expect(JSONNumber(0) == .zero)
    }

    @Test func doubleValueIsApproximate() {
        #expect(JSONNumber("0.5")?.doubleValue == 0.5)
        #expect(JSONNumber("1e400")?.doubleValue == .infinity)
    }
}
