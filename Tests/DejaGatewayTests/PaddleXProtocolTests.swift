import DejaCore
import DejaGateway
import NIOCore
import Testing

@Suite struct PaddleXProtocolTests {
    let answer = #"{"logId":"0a1b","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[{"prunedResult":{"rec_texts":["发票","INVOICE"],"rec_scores":[0.99,0.5]}}],"dataInfo":{"width":800,"height":600,"type":"image"}}}"#

    func joined(_ parts: [ByteBuffer]) -> String {
        parts.map { String(buffer: $0) }.joined()
    }

    @Test func storedAnswersDropTheLogIdAndKeepEverythingElse() throws {
        let read = try PaddleXProtocol.readAnswer(ByteBuffer(string: answer))
        let stored = String(buffer: read.stored)
        #expect(!stored.contains("logId"))
        #expect(!stored.contains("0a1b"))
        let reparsed = try JSONValue(parsing: read.stored)
        var expected = try JSONValue(parsing: ByteBuffer(string: answer))
        if case .object(let members) = expected { expected = .object(members.filter { $0.key != "logId" }) }
        #expect(reparsed == expected)
    }

    @Test func renderingPutsAFreshLogIdInFrontOfTheStoredBytes() throws {
        let read = try PaddleXProtocol.readAnswer(ByteBuffer(string: answer))
        let first = joined(PaddleXProtocol.render(stored: read.stored, logId: "id-1"))
        let second = joined(PaddleXProtocol.render(stored: read.stored, logId: "id-2"))
        #expect(first.hasPrefix(#"{"logId":"id-1","errorCode":0"#))
        let a = try JSONValue(parsing: ByteBuffer(string: first))
        let b = try JSONValue(parsing: ByteBuffer(string: second))
        #expect(a != b)
        #expect(a.objectValue?.first?.value == .string("id-1"))
        #expect(a.objectValue?.dropFirst().map(\.key) == b.objectValue?.dropFirst().map(\.key))
    }

    @Test func anEmptyObjectStillRendersValidJSON() throws {
        let rendered = joined(PaddleXProtocol.render(stored: ByteBuffer(string: "{}"), logId: "x"))
        #expect(rendered == #"{"logId":"x"}"#)
        _ = try JSONValue(parsing: ByteBuffer(string: rendered))
    }

    @Test func errorCodesAndBrokenAnswersAreUpstreamFailures() {
        for bad in [#"{"logId":"a","errorCode":500,"errorMsg":"boom"}"#, "not json", "[1,2]"] {
            #expect(throws: GatewayError.self) { try PaddleXProtocol.readAnswer(ByteBuffer(string: bad)) }
        }
    }

    @Test func errorEnvelopesCarryTheStatusAsErrorCode() throws {
        let body = PaddleXProtocol.renderError(status: 422, message: "Invalid input file \"x\"", logId: "l")
        let value = try JSONValue(parsing: body)
        #expect(value.objectValue?.map(\.key) == ["logId", "errorCode", "errorMsg"])
        #expect(value.objectValue?[1].value == .number(JSONNumber(422)))
        #expect(value.objectValue?[2].value == .string("Invalid input file \"x\""))
        #expect(PaddleXProtocol.errorMessage(in: body) == "Invalid input file \"x\"")
    }
}

@Suite struct LogIdTests {
    @Test func logIdsAreUUIDShapedAndUnique() {
        let ids = (0..<10_000).map { _ in PaddleXProtocol.newLogId() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(100) {
            let groups = id.split(separator: "-").map(\.count)
            #expect(groups == [8, 4, 4, 4, 12])
            #expect(id.allSatisfy { $0 == "-" || $0.isHexDigit && !$0.isUppercase })
        }
    }
}
