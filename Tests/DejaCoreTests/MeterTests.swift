import Testing

@testable import DejaCore

@Suite struct MeterTests {
    static let measured = Measurement(pages: 3, outputCharacters: 10, labels: 2, inputBytes: 2048, inputCharacters: 7, modelTokens: 11)

    @Test func perRequest() {
        #expect(Meter.perRequest(7).tokens(for: Self.measured) == 7)
    }

    @Test func perPage() {
        #expect(Meter.perPage(10).tokens(for: Self.measured) == 30)
        #expect(Meter.ocrDefault == .perPage(10))
    }

    @Test func aMeasurementHasAtLeastOnePageAndNoNegativeCounts() {
        let odd = Measurement(pages: 0, outputCharacters: -1, labels: -2, inputBytes: -3, inputCharacters: -4, modelTokens: -5)
        #expect(odd == Measurement(pages: 1))
        #expect(Meter.perPage(10).tokens(for: odd) == 10)
    }

    @Test func perCharacterAndLabel() {
        #expect(Meter.perOutputCharacter(3).tokens(for: Self.measured) == 30)
        #expect(Meter.perInputCharacter(2).tokens(for: Self.measured) == 14)
        #expect(Meter.perLabel(5).tokens(for: Self.measured) == 10)
        #expect(Meter.perModelToken(2).tokens(for: Self.measured) == 22)
    }

    @Test func perInputKiBRoundsUp() {
        let meter = Meter.perInputKiB(2)
        #expect(meter.tokens(for: Measurement(inputBytes: 0)) == 0)
        #expect(meter.tokens(for: Measurement(inputBytes: 1)) == 2)
        #expect(meter.tokens(for: Measurement(inputBytes: 1024)) == 2)
        #expect(meter.tokens(for: Measurement(inputBytes: 1025)) == 4)
    }

    @Test func sumAddsAndSaturates() {
        let meter = Meter.sum([.perRequest(1), .perPage(10), .perInputKiB(1)])
        #expect(meter.tokens(for: Self.measured) == 1 + 30 + 2)
        #expect(Meter.sum([]).tokens(for: Self.measured) == 0)
        #expect(Meter.sum([.perRequest(.max), .perRequest(1)]).tokens(for: Self.measured) == .max)
        #expect(Meter.perInputKiB(.max).tokens(for: Measurement(inputBytes: 4096)) == .max)
    }
}
