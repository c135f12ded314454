import Testing

@testable import DejaCore

@Suite struct MeterTests {
    static let answer: JSONValue = [
        "logId": "x", "errorCode": 0, "errorMsg": "Success",
        "result": [
            "ocrResults": [
                ["prunedResult": ["rec_texts": ["h\u{e9}llo", "AB"], "rec_scores": [.number(JSONNumber("0.9")!), .number(JSONNumber("0.8")!)]]],
                ["prunedResult": ["rec_texts": ["e\u{301}", "\u{1F600}x"]]],
                ["prunedResult": ["rec_texts": []]],
            ],
            "dataInfo": ["width": 100, "height": 50, "type": "image"],
        ],
    ]

    @Test func perRequest() {
        #expect(Meter.perRequest(7).tokens(answer: Self.answer, inputBytes: 123) == 7)
    }

    @Test func perPageCountsOCRResults() {
        #expect(Meter.perPage(10).tokens(answer: Self.answer, inputBytes: 0) == 30)
        #expect(Meter.ocrDefault == .perPage(10))
    }

    @Test func perPagePrefersNumPages() throws {
        let pdf = try parse(#"{"result": {"ocrResults": [{}], "dataInfo": {"numPages": 5, "type": "pdf"}}}"#)
        #expect(Meter.perPage(10).tokens(answer: pdf, inputBytes: 0) == 50)
    }

    @Test func perPageChargesAtLeastOnePage() throws {
        #expect(Meter.perPage(10).tokens(answer: [:], inputBytes: 0) == 10)
        #expect(Meter.perPage(10).tokens(answer: try parse(#"{"result": {"ocrResults": []}}"#), inputBytes: 0) == 10)
        #expect(Meter.perPage(10).tokens(answer: try parse(#"{"result": {"dataInfo": {"numPages": 0}}}"#), inputBytes: 0) == 10)
    }

    @Test func perOutputCharacterCountsRecognisedText() {
        // "héllo" 5 + "AB" 2 + "é" (decomposed) 1 + "😀x" 2 = 10
        #expect(Meter.perOutputCharacter(3).tokens(answer: Self.answer, inputBytes: 0) == 30)
        #expect(Meter.perOutputCharacter(3).tokens(answer: ["rec_texts": "not an array"], inputBytes: 0) == 0)
    }

    @Test func perInputKiBRoundsUp() {
        let meter = Meter.perInputKiB(2)
        #expect(meter.tokens(answer: nil, inputBytes: 0) == 0)
        #expect(meter.tokens(answer: nil, inputBytes: 1) == 2)
        #expect(meter.tokens(answer: nil, inputBytes: 1024) == 2)
        #expect(meter.tokens(answer: nil, inputBytes: 1025) == 4)
    }

    @Test func sumAddsAndSaturates() {
        let meter = Meter.sum([.perRequest(1), .perPage(10), .perInputKiB(1)])
        #expect(meter.tokens(answer: Self.answer, inputBytes: 2048) == 1 + 30 + 2)
        #expect(Meter.sum([]).tokens(answer: Self.answer, inputBytes: 0) == 0)
        #expect(Meter.sum([.perRequest(.max), .perRequest(1)]).tokens(answer: nil, inputBytes: 0) == .max)
        #expect(Meter.perInputKiB(.max).tokens(answer: nil, inputBytes: 4096) == .max)
    }
}
