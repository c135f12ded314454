import DejaCore
import DejaLedger
import DejaServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// What a task does with an answer in which a detector finds personal data, end to end over HTTP with
/// an in-process model (``StubModel``) — the event-loop hit path included.
@Suite(.serialized) struct SensitiveResultTests {
    /// A synthetic resident ID (GB 11643 check character 9, born 1990-03-07) and its stored form.
    static let idNumber = "110105199003071239", idMasked = "110105********1239"
    static let mobile = "13912345678", mobileMasked = "139****5678"
    static let cache = HTTPField.Name("x-deja-cache")!, redacted = HTTPField.Name("x-deja-redacted")!
    static let billed = HTTPField.Name("x-deja-billed-tokens")!

    func withGateway(
        sensitive: [String: String],
        _ body: @Sendable (StubModel, TestGateway, any TestClientProtocol) async throws -> Void
    ) async throws {
        let stub = try await StubModel.start()
        stub.behave(.text("身份证号 \(Self.idNumber) 电话 \(Self.mobile)"))
        let gateway = try await TestGateway.make { configuration in
            configuration.tasks[0].upstream = stub.url + "/ocr"
            configuration.tasks[0].sensitive = sensitive
        }
        defer { gateway.cleanUp() }
        do {
            try await gateway.testLive { client in try await body(stub, gateway, client) }
        } catch {
            await stub.stop()
            throw error
        }
        await stub.stop()
    }

    @Test func redactGivesThePayingRequestTheAnswerAndEveryRepeatTheMaskedCopy() async throws {
        try await withGateway(sensitive: ["idNumber": "redact"]) { stub, gateway, client in
            let body = ModelTierTests.body("id card")
            let miss = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body)
            #expect(miss.headers[Self.cache] == "miss")
            #expect(String(buffer: miss.body).contains(Self.idNumber) && String(buffer: miss.body).contains(Self.mobile))
            #expect(miss.headers[Self.redacted] == nil)
            // The repeat (answered on the event loop from memory) and a differently spelled one (the router).
            for spelling in [body, ModelTierTests.body("id card", extra: #", "logId": "x""#)] {
                let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: spelling)
                let text = String(buffer: hit.body)
                #expect(hit.headers[Self.cache] == "hit")
                #expect(hit.headers[Self.redacted] == "2")
                #expect(text.contains(Self.idMasked) && text.contains(Self.mobileMasked))
                #expect(!text.contains(Self.idNumber) && !text.contains(Self.mobile))
                #expect(try JSONSerialization.jsonObject(with: Data(hit.body.readableBytesView)) is [String: Any])
            }
            #expect(stub.calls == 1)
        }
    }

    @Test func skipAnswersInFullAndStoresNothing() async throws {
        try await withGateway(sensitive: [:]) { stub, gateway, client in  // the default: idNumber skip
            let body = ModelTierTests.body("id card")
            for _ in 0..<2 {
                let response = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body)
                #expect(response.headers[Self.cache] == "miss")
                #expect(response.headers[Self.billed] == "10")
                #expect(String(buffer: response.body).contains(Self.idNumber))
            }
            #expect(stub.calls == 2)
            // A retry with the same Idempotency-Key is never billed twice: it gets the masked copy.
            var headers = gateway.auth
            headers[.init("Idempotency-Key")!] = "retry-1"
            let first = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: body)
            #expect(String(buffer: first.body).contains(Self.idNumber))
            let retry = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: body)
            #expect(retry.headers[.init("x-deja-idempotent-replay")!] == "true")
            #expect(retry.headers[Self.billed] == "0")
            #expect(retry.headers[Self.redacted] == "2")  // the ID and the phone number
            #expect(String(buffer: retry.body).contains(Self.idMasked) && !String(buffer: retry.body).contains(Self.idNumber))
            #expect(stub.calls == 3)
        }
    }

    @Test func storeKeepsTheAnswerAsTheModelWroteIt() async throws {
        let all = Dictionary(uniqueKeysWithValues: SensitiveKind.allCases.map { ($0.rawValue, "store") })
        try await withGateway(sensitive: all) { stub, gateway, client in
            let body = ModelTierTests.body("id card")
            _ = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body)
            let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body)
            #expect(hit.headers[Self.cache] == "hit")
            #expect(hit.headers[Self.redacted] == nil)
            #expect(String(buffer: hit.body).contains(Self.idNumber))
            #expect(stub.calls == 1)
        }
    }

    @Test func anUnknownDetectorOrActionIsRefusedAtStart() throws {
        for (sensitive, field) in [(["passport": "skip"], "sensitive.passport"), (["idNumber": "hide"], "sensitive.idNumber")] {
            var configuration = DejaConfiguration()
            configuration.tasks[0].sensitive = sensitive
            let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
            #expect(error?.description.contains(field) == true)
        }
    }
}
