import DejaServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

/// Traces exported over OTLP/HTTP to an in-process collector (``CollectorStub``): the spans of a miss
/// and a hit, on the router and on the event-loop hit path, their parents, their attributes, the
/// client's `traceparent` continued and passed on to the model server — and never a body or a secret.
@Suite(.serialized) struct TracingTests {
    static let cache = HTTPField.Name("x-deja-cache")!, key = HTTPField.Name("x-deja-key")!
    static let traceparent = HTTPField.Name("traceparent")!
    /// A client's trace: its id and the id of the client's span the request is sent from.
    static let clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736", clientSpan = "00f067aa0ba902b7"
    /// Distinctive input text: its base64 is the body's `file`.
    static let input = "confidential-input-7f3a"

    static var body: ByteBuffer {
        ByteBuffer(string: #"{"file": "\#(Data(input.utf8).base64EncodedString())"}"#)
    }

    /// Runs `body` against a gateway in front of a ``StubModel`` with tracing on (or off), exporting to a
    /// collector; returns the collector once the app has stopped (its spans all exported by then).
    func withTracedGateway(
        tracing: Bool = true, live: Bool = false,
        _ body: @Sendable (StubModel, TestGateway, any TestClientProtocol) async throws -> Void
    ) async throws -> (CollectorStub, TestGateway, StubModel) {
        let collector = try await CollectorStub.start()
        let stub = try await StubModel.start()
        let gateway = try await TestGateway.make { configuration in
            configuration.tasks[0].upstream = stub.url + "/ocr"
            configuration.tracing.enabled = tracing
            configuration.tracing.endpoint = collector.endpoint
        }
        do {
            if live {
                try await gateway.testLive { client in try await body(stub, gateway, client) }
            } else {
                try await gateway.test { client in try await body(stub, gateway, client) }
            }
        } catch {
            await stub.stop()
            await collector.stop()
            throw error
        }
        await stub.stop()
        await collector.stop()
        return (collector, gateway, stub)
    }

    @Test func aMissAndItsHitGiveTheirSpansUnderTheRequestSpan() async throws {
        let keys = KeysSeen()
        let (collector, gateway, stub) = try await withTracedGateway { stub, gateway, client in
            var headers = gateway.auth
            headers[Self.traceparent] = "00-\(Self.clientTrace)-\(Self.clientSpan)-01"
            let miss = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body)
            #expect(miss.headers[Self.cache] == "miss")
            let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body)
            #expect(hit.headers[Self.cache] == "hit")
            keys.set(miss.headers[Self.key], String(buffer: hit.body))
        }
        defer { gateway.cleanUp() }
        let spans = try collector.spans()
        let requests = spans.filter { $0.name == "deja.request" }
        try #require(requests.count == 2, "\(spans)")
        #expect(try collector.serviceNames() == ["deja"])

        // The miss continues the client's trace; its steps are the request span's children.
        let miss = try #require(requests.first { $0.attributes["deja.outcome"] == "miss" }, "\(requests)")
        #expect(miss.kind == .server)
        #expect(miss.traceID == Self.clientTrace)
        #expect(miss.parentSpanID == Self.clientSpan)
        #expect(miss.attributes["deja.task"] == "ocr")
        #expect(miss.attributes["http.response.status_code"] == "200")
        #expect(miss.attributes["deja.billed_tokens"] == "10")
        let key = try #require(keys.key)
        #expect(miss.attributes["deja.key_prefix"] == String(key.prefix(16)))
        let missSteps = spans.filter { $0.parentSpanID == miss.spanID }
        #expect(Set(missSteps.map(\.name)) == ["deja.key", "deja.lookup", "deja.model_call", "deja.ledger_commit"], "\(missSteps)")
        #expect(missSteps.allSatisfy { $0.traceID == Self.clientTrace })
        #expect(missSteps.first { $0.name == "deja.key" }?.attributes["deja.key.source"] == "canonical")
        #expect(missSteps.first { $0.name == "deja.lookup" }?.attributes["deja.lookup.result"] == "miss")
        let call = try #require(missSteps.first { $0.name == "deja.model_call" })
        #expect(call.kind == .client)
        #expect(call.attributes["http.response.status_code"] == "200")
        #expect(call.attributes["server.port"] == String(stub.port))
        #expect(call.attributes["deja.model_version"] == gateway.configuration.tasks[0].model.version)
        let commit = try #require(missSteps.first { $0.name == "deja.ledger_commit" })
        #expect(commit.attributes["deja.outcome"] == "miss")
        #expect(commit.attributes["deja.billed_tokens"] == "10")
        // The model server was sent the trace, with the model call as the parent.
        #expect(stub.traceparents == ["00-\(Self.clientTrace)-\(call.spanID)-01"])

        // The hit starts its own trace: key from the memo, found in memory, no model call, no commit.
        let hit = try #require(requests.first { $0.attributes["deja.outcome"] == "hit" }, "\(requests)")
        #expect(hit.parentSpanID.isEmpty)
        #expect(hit.traceID != Self.clientTrace)
        let hitSpans = spans.filter { $0.traceID == hit.traceID && $0.spanID != hit.spanID }
        #expect(Set(hitSpans.map(\.name)) == ["deja.key", "deja.lookup"], "\(hitSpans)")
        #expect(hitSpans.allSatisfy { $0.parentSpanID == hit.spanID })
        let lookup = try #require(hitSpans.first { $0.name == "deja.lookup" })
        #expect(lookup.attributes["deja.lookup.result"] == "hit")
        #expect(lookup.attributes["deja.cache.layer"] == "l1")
        #expect(hitSpans.first { $0.name == "deja.key" }?.attributes["deja.key.source"] == "memo")

        try Self.expectNothingSecret(in: collector, gateway: gateway, key: key, answer: keys.answer)
    }

    @Test func aHitOnTheEventLoopGetsARequestSpanContinuingTheClientsTrace() async throws {
        let (collector, gateway, _) = try await withTracedGateway(live: true) { _, gateway, client in
            let miss = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body)
            #expect(miss.headers[Self.cache] == "miss")
            var headers = gateway.auth
            headers[Self.traceparent] = "00-\(Self.clientTrace)-\(Self.clientSpan)-01"
            let hit = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body)
            #expect(hit.headers[Self.cache] == "hit")
        }
        defer { gateway.cleanUp() }
        let spans = try collector.spans()
        let hit = try #require(spans.first { $0.name == "deja.request" && $0.attributes["deja.outcome"] == "hit" }, "\(spans)")
        #expect(hit.attributes["deja.fast_path"] == "true")
        #expect(hit.attributes["deja.cache.layer"] == "l1")
        #expect(hit.attributes["deja.task"] == "ocr")
        #expect(hit.attributes["http.response.status_code"] == "200")
        #expect(hit.kind == .server)
        #expect(hit.traceID == Self.clientTrace)
        #expect(hit.parentSpanID == Self.clientSpan)
        // Answered in one step on the event loop: the router's spans are not there.
        #expect(spans.filter { $0.traceID == Self.clientTrace }.map(\.name) == ["deja.request"])
        // The miss before it went through the router.
        #expect(spans.contains { $0.name == "deja.request" && $0.attributes["deja.outcome"] == "miss" && $0.attributes["deja.fast_path"] == nil })
    }

    @Test func aModelFailureIsRecordedOnTheModelCallAndTheRequest() async throws {
        let (collector, gateway, _) = try await withTracedGateway { stub, gateway, client in
            stub.behave(.error(status: 500))
            let failed = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body)
            #expect(failed.status.code == 502)
        }
        defer { gateway.cleanUp() }
        let spans = try collector.spans()
        let request = try #require(spans.first { $0.name == "deja.request" }, "\(spans)")
        #expect(request.attributes["deja.outcome"] == "error")
        #expect(request.attributes["http.response.status_code"] == "502")
        #expect(request.statusCode == 2)
        let call = try #require(spans.first { $0.name == "deja.model_call" }, "\(spans)")
        #expect(call.statusCode == 2)
        #expect(call.events == ["exception"])
        #expect(call.attributes["error.type"] == "upstream_failed")
        #expect(call.attributes["http.response.status_code"] == "500")
        // Nothing was billed, so nothing was committed.
        #expect(!spans.contains { $0.name == "deja.ledger_commit" })
        // The model's own words are not exported.
        let exported = collector.rawExports.map { String(decoding: $0, as: UTF8.self) }.joined()
        #expect(!exported.contains("stub says"))
    }

    @Test func withTracingOffNothingIsExported() async throws {
        let (collector, gateway, stub) = try await withTracedGateway(tracing: false, live: true) { _, gateway, client in
            for expected in ["miss", "hit"] {
                var headers = gateway.auth
                headers[Self.traceparent] = "00-\(Self.clientTrace)-\(Self.clientSpan)-01"
                let response = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body)
                #expect(response.headers[Self.cache] == expected)
            }
        }
        defer { gateway.cleanUp() }
        #expect(collector.rawExports.isEmpty)
        // And nothing is sent on to the model server either.
        #expect(stub.traceparents == [nil])
    }

    /// No export holds the API key's secret, its id, the request body (raw or decoded), the answer or
    /// the whole content key.
    static func expectNothingSecret(in collector: CollectorStub, gateway: TestGateway, key: String, answer: String?) throws {
        let exports = collector.rawExports
        try #require(!exports.isEmpty)
        let forbidden = [gateway.secret, gateway.keyID, input, Data(input.utf8).base64EncodedString(), key, "answer 1"]
            + (answer.map { [$0] } ?? [])
        for export in exports {
            for secret in forbidden {
                #expect(export.firstRange(of: Array(secret.utf8)) == nil, "an export holds '\(secret)'")
            }
        }
    }
}

/// What the test saw of the responses, kept for the checks after the app stopped.
final class KeysSeen: Sendable {
    private let values = Mutex<(key: String?, answer: String?)>((nil, nil))

    func set(_ key: String?, _ answer: String) {
        values.withLock { $0 = (key, answer) }
    }

    var key: String? { values.withLock { $0.key } }
    var answer: String? { values.withLock { $0.answer } }
}
