import DejaCore
import Foundation
import DejaGateway
import NIOCore
import Testing

@Suite struct PaddleXOCRTests {
    let ocr = PaddleXOCR()
    let answer = #"{"logId":"0a1b","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[{"prunedResult":{"rec_texts":["发票","INVOICE"],"rec_scores":[0.99,0.5]}}],"dataInfo":{"width":800,"height":600,"type":"image"}}}"#

    func joined(_ parts: [ByteBuffer]) -> String {
        parts.map { String(buffer: $0) }.joined()
    }

    func read(_ body: String, status: Int = 200) throws -> ModelAnswer {
        guard case .answer(let answer) = ocr.read(status: status, body: ByteBuffer(string: body)) else {
            Issue.record("not read as an answer: \(body)")
            throw CancellationError()
        }
        return answer
    }

    @Test func storedAnswersDropTheLogIdAndKeepEverythingElse() throws {
        let read = try read(answer)
        let stored = String(buffer: read.stored)
        #expect(!stored.contains("logId"))
        #expect(!stored.contains("0a1b"))
        let reparsed = try JSONValue(parsing: read.stored)
        var expected = try JSONValue(parsing: ByteBuffer(string: answer))
        if case .object(let members) = expected { expected = .object(members.filter { $0.key != "logId" }) }
        #expect(reparsed == expected)
    }

    @Test func renderingPutsAFreshLogIdInFrontOfTheStoredBytes() throws {
        let read = try read(answer)
        let first = joined(PaddleXEnvelope.render(stored: read.stored, logId: "id-1"))
        let second = joined(PaddleXEnvelope.render(stored: read.stored, logId: "id-2"))
        #expect(first.hasPrefix(#"{"logId":"id-1","errorCode":0"#))
        let a = try JSONValue(parsing: ByteBuffer(string: first))
        let b = try JSONValue(parsing: ByteBuffer(string: second))
        #expect(a != b)
        #expect(a.objectValue?.first?.value == .string("id-1"))
        #expect(a.objectValue?.dropFirst().map(\.key) == b.objectValue?.dropFirst().map(\.key))
        #expect(joined(ocr.render(stored: read.stored, echo: nil)) != joined(ocr.render(stored: read.stored, echo: nil)))  // a new logId each time
    }

    @Test func anEmptyObjectStillRendersValidJSON() throws {
        let rendered = joined(PaddleXEnvelope.render(stored: ByteBuffer(string: "{}"), logId: "x"))
        #expect(rendered == #"{"logId":"x"}"#)
        _ = try JSONValue(parsing: ByteBuffer(string: rendered))
    }

    @Test func errorCodesAndBrokenAnswersAreFailures() {
        for bad in [#"{"logId":"a","errorCode":500,"errorMsg":"boom"}"#, "not json", "[1,2]", #"{"result": [1]}"#] {
            guard case .failed = ocr.read(status: 200, body: ByteBuffer(string: bad)) else {
                Issue.record("\(bad) was not read as a failure")
                continue
            }
        }
        guard case .failed(let message) = ocr.read(status: 503, body: ByteBuffer(string: #"{"errorMsg":"busy"}"#)) else {
            Issue.record("a 503 was not read as a failure")
            return
        }
        #expect(message.contains("503") && message.contains("busy"))
    }

    @Test func rejectionsAreRememberedOnlyForStatusesAboutTheInput() {
        let body = ByteBuffer(string: #"{"logId":"z","errorCode":422,"errorMsg":"Invalid file"}"#)
        guard case .rejected(422, "Invalid file", let stored?) = ocr.read(status: 422, body: body) else {
            Issue.record("a 422 was not read as a remembered rejection")
            return
        }
        #expect(!String(buffer: stored).contains("logId"))
        guard case .refused(429, _) = ocr.read(status: 429, body: body) else {
            Issue.record("a 429 is about the moment, not the input")
            return
        }
    }

    @Test func errorEnvelopesCarryTheStatusAsErrorCode() throws {
        let body = PaddleXEnvelope.renderError(status: 422, message: "Invalid input file \"x\"", logId: "l")
        let value = try JSONValue(parsing: body)
        #expect(value.objectValue?.map(\.key) == ["logId", "errorCode", "errorMsg"])
        #expect(value.objectValue?[1].value == .number(JSONNumber(422)))
        #expect(value.objectValue?[2].value == .string("Invalid input file \"x\""))
    }

    @Test func pagesComeFromNumPagesOrOCRResultsAndAreAtLeastOne() throws {
        #expect(ocr.measure(try read(answer), forwardBody: []).pages == 1)
        let pdf = try read(#"{"result": {"ocrResults": [{}], "dataInfo": {"numPages": 5, "type": "pdf"}}}"#)
        #expect(ocr.measure(pdf, forwardBody: []).pages == 5)
        let three = try read(#"{"result": {"ocrResults": [{}, {}, {}]}}"#)
        #expect(ocr.measure(three, forwardBody: [1, 2]) == Measurement(pages: 3, inputBytes: 2))
        #expect(ocr.measure(try read(#"{"result": {"ocrResults": []}}"#), forwardBody: []).pages == 1)
        #expect(ocr.minimumMeasurement(forwardBody: [0, 0, 0]) == Measurement(pages: 1, inputBytes: 3))
    }

    /// A PDF of `pages` empty pages with a classic cross-reference table; `trailer` adds trailer entries.
    static func pdf(pages: Int, trailer: String = "") -> [UInt8] {
        var objects = ["<< /Type /Catalog /Pages 2 0 R >>",
                       "<< /Type /Pages /Kids [\((0..<pages).map { "\($0 + 3) 0 R" }.joined(separator: " "))] /Count \(pages) >>"]
        objects += Array(repeating: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>", count: pages)
        return TestPDF.file(objects: objects, trailer: trailer)
    }

    static func forwardBody(file: [UInt8]) -> [UInt8] {
        Array(#"{"file":""#.utf8) + Array(Data(file).base64EncodedString().utf8) + Array(#"","fileType":0}"#.utf8)
    }

    @Test func aPDFIsReservedByItsPageCountBeforeTheModelReadsIt() {
        let fifty = Self.forwardBody(file: Self.pdf(pages: 50))
        #expect(ocr.minimumMeasurement(forwardBody: fifty) == Measurement(pages: 50, inputBytes: Int64(fifty.count)))
        #expect(Meter.perPage(10).tokens(for: ocr.minimumMeasurement(forwardBody: fifty)) == 500)
        // A PDF whose page tree is not read for certain is held at the worker's page cap.
        let encrypted = Self.forwardBody(file: Self.pdf(pages: 2, trailer: "/Encrypt << /Filter /Standard >>"))
        #expect(ocr.minimumMeasurement(forwardBody: encrypted).pages == PaddleXOCR.unreadPDFPages)
        let cut = Self.forwardBody(file: Array(Self.pdf(pages: 3).dropLast(40)))
        #expect(ocr.minimumMeasurement(forwardBody: cut).pages == PaddleXOCR.unreadPDFPages)
        // An image, a URL or a file that only mentions a PDF is one page.
        let png = Array(#"{"file":"iVBORw0KGgo=","fileType":1,"note":"JVBERi0"}"#.utf8)
        #expect(ocr.minimumMeasurement(forwardBody: png).pages == 1)
        #expect(ocr.minimumMeasurement(forwardBody: Array(#"{"file":"https://example.com/a.pdf"}"#.utf8)).pages == 1)
    }

    @Test func outputCharactersAreTheGraphemesOfEveryRecognisedText() throws {
        let answer = try read(#"{"result": {"ocrResults": [{"prunedResult": {"rec_texts": ["h\u00e9llo", "AB"]}}, {"prunedResult": {"rec_texts": ["e\u0301", "\ud83d\ude00x", 5]}}], "rec_texts": "not an array"}}"#)
        // "héllo" 5 + "AB" 2 + "é" (decomposed) 1 + "😀x" 2 = 10
        #expect(ocr.measure(answer, forwardBody: []).outputCharacters == 10)
    }
}

@Suite struct PaddleXSentimentTests {
    let sentiment = PaddleXSentiment()

    @Test func anAnswerNeedsALabel() {
        guard case .answer(let answer) = sentiment.read(status: 200, body: ByteBuffer(string: #"{"logId":"a","errorCode":0,"errorMsg":"Success","result":{"label":"negative","score":0.91}}"#)) else {
            Issue.record("a labelled answer was not read as one")
            return
        }
        #expect(answer.value["result"]?["label"] == .string("negative"))
        guard case .failed = sentiment.read(status: 200, body: ByteBuffer(string: #"{"errorCode":0,"result":{"score":1}}"#)) else {
            Issue.record("an answer without a label was read as one")
            return
        }
    }

    @Test func oneLabelPerAnswerAndTheInputsCharacters() throws {
        let forward = Array(#"{"text":"怎么退货?"}"#.utf8)
        let measured = sentiment.minimumMeasurement(forwardBody: forward)
        #expect(measured == Measurement(labels: 1, inputBytes: Int64(forward.count), inputCharacters: 5))
    }

    @Test func textMustBeAString() throws {
        let policy = TaskPolicy(task: "sentiment", protocolName: PaddleXSentiment.name, modelName: "m", modelVersion: "1",
                                requiredFields: sentiment.roles.required)
        let canonicalizer = Canonicalizer()
        let good = try canonicalizer.canonicalize(body: ByteBuffer(string: #"{"text":"好"}"#), policy: policy, scope: nil)
        try sentiment.check(good)
        let bad = try canonicalizer.canonicalize(body: ByteBuffer(string: #"{"text":[1]}"#), policy: policy, scope: nil)
        #expect(throws: GatewayError.self) { try sentiment.check(bad) }
    }
}

@Suite struct TaskProtocolsTests {
    @Test func everyProtocolHasOneDistinctName() {
        #expect(TaskProtocols.names == ["paddlex-ocr", "paddlex-sentiment"])
        #expect(TaskProtocols.named("paddlex-ocr")?.roles == MemberRoles(binary: ["file"], required: ["file"], volatile: ["logId"]))
        #expect(TaskProtocols.named("paddlex") == nil)
    }
}

@Suite struct LogIdTests {
    @Test func logIdsAreVersion4UUIDsAndUnique() {
        let ids = (0..<10_000).map { _ in PaddleXEnvelope.newLogId() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(1000) {
            let groups = id.split(separator: "-")
            #expect(groups.map(\.count) == [8, 4, 4, 4, 12])
            #expect(id.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase })
            #expect(groups[2].first == "4")  // version 4
            #expect("89ab".contains(groups[3].first!))  // RFC 9562 variant
        }
    }
}

@Suite struct ByteFaithfulAnswerTests {
    @Test func theStoredAnswerIsTheModelsBytesWithoutLogId() throws {
        let body = #"{ "logId" : "abc", "errorCode":0,"errorMsg":"Success","result":{"score": 2.0, "big": 1e400, "t":"caf\u00e9 \"q\"", "a":[1.50, {"logId":"inner"}]} }"#
        guard case .answer(let answer) = PaddleXOCR().read(status: 200, body: ByteBuffer(string: body)) else {
            Issue.record("not an answer")
            return
        }
        #expect(String(buffer: answer.stored)
            == #"{"errorCode":0,"errorMsg":"Success","result":{"score": 2.0, "big": 1e400, "t":"caf\u00e9 \"q\"", "a":[1.50, {"logId":"inner"}]}}"#)
        let rendered = PaddleXEnvelope.render(stored: answer.stored, logId: "L").map { String(buffer: $0) }.joined()
        #expect(rendered.hasPrefix(#"{"logId":"L","errorCode":0,"#))
        _ = try JSONValue(parsing: ByteBuffer(string: rendered))
    }

    @Test func membersAreScannedWithEscapedNamesAndNesting() throws {
        let bytes = Array(#"{"a":[1,{"b":"}"}],"log\u0049d":"x","c":-0.0e+1,"d":"\\","e":{}}"#.utf8)
        let members = try #require(JSONMembers.scan(bytes))
        #expect(members.map(\.name) == ["a", "logId", "c", "d", "e"])
        #expect(JSONMembers.object(bytes, dropping: ["logId"]).map { String(decoding: $0, as: UTF8.self) }
            == #"{"a":[1,{"b":"}"}],"c":-0.0e+1,"d":"\\","e":{}}"#)
        #expect(JSONMembers.scan(Array("[1]".utf8)) == nil)
        #expect(JSONMembers.object(Array("{}".utf8), dropping: []) == Array("{}".utf8))
    }
}
