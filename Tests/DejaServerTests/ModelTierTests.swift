import DejaCore
import DejaLedger
import DejaServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The request path against an in-process model server (``StubModel``): misses, coalescing, idempotent
/// replay, negative caching, stale-if-error and breakers, with what the model received and what the
/// ledger billed — in `swift test`, without PaddlePaddle.
@Suite(.serialized) struct ModelTierTests {
    static func body(_ text: String = "hello world", extra: String = "") -> ByteBuffer {
        ByteBuffer(string: #"{"file": "\#(Data(text.utf8).base64EncodedString())"\#(extra)}"#)
    }

    func withGateway(
        configure: @escaping (inout DejaConfiguration) -> Void = { _ in },
        _ body: @Sendable (StubModel, TestGateway, any TestClientProtocol) async throws -> Void
    ) async throws -> TestGateway {
        let stub = try await StubModel.start()
        let gateway = try await TestGateway.make { configuration in
            configuration.tasks[0].upstream = stub.url + "/ocr"
            configure(&configuration)
        }
        do {
            try await gateway.test { client in try await body(stub, gateway, client) }
        } catch {
            await stub.stop()
            throw error
        }
        await stub.stop()
        return gateway
    }

    @Test func aMissIsBilledOnceAndItsRepeatIsAFreeHit() async throws {
        let gateway = try await withGateway { stub, gateway, client in
            stub.behave(.answer(pages: 3))
            let miss = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
            #expect(miss.status == .ok)
            #expect(miss.headers[.init("x-deja-cache")!] == "miss")
            #expect(miss.headers[.init("x-deja-billed-tokens")!] == "30")
            // The same request spelled differently: key order, a volatile id.
            let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth,
                                               body: Self.body(extra: #", "logId": "mine""#))
            #expect(hit.headers[.init("x-deja-cache")!] == "hit")
            #expect(hit.headers[.init("x-deja-billed-tokens")!] == "0")
            #expect(String(buffer: hit.body).contains("answer 1"))
            #expect(stub.calls == 1)
        }
        defer { gateway.cleanUp() }
        // The miss has its record; the hit, billed nothing, is counted.
        let accounted = try await gateway.accounted()
        #expect(accounted.map(\.outcome) == [.miss, .hit])
        #expect(accounted.map(\.billed) == [30, 0])
        #expect(accounted.map(\.requests) == [1, 1])
        #expect(try await gateway.records().map(\.outcome) == [.miss])
    }

    @Test func theModelIsSentEveryDeclaredDefaultExplicitly() async throws {
        let gateway = try await withGateway(configure: { configuration in
            configuration.tasks[0].defaults = ["fileType": .number("1"), "visualize": .bool(false), "textDetThresh": .number("0.3")]
        }) { stub, gateway, client in
            // fileType left out, visualize equal to its default, textDetThresh different from it.
            let response = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth,
                                                    body: Self.body(extra: #", "visualize": false, "textDetThresh": 0.5"#))
            #expect(response.status == .ok)
            let sent = try #require(stub.bodies.first)
            let members = try #require(try JSONSerialization.jsonObject(with: Data(sent.utf8)) as? [String: Any])
            #expect(Set(members.keys) == ["file", "fileType", "visualize", "textDetThresh"])
            #expect(members["fileType"] as? Int == 1)
            #expect(members["visualize"] as? Bool == false)
            #expect(members["textDetThresh"] as? Double == 0.5)
            // The request that leaves everything to the defaults has the key of the one that spells them out.
            let spelled = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth,
                                                   body: Self.body(extra: #", "fileType": 1, "textDetThresh": 0.5"#))
            #expect(spelled.headers[.init("x-deja-cache")!] == "hit")
        }
        gateway.cleanUp()
    }

    @Test func concurrentIdenticalRequestsReachTheModelOnce() async throws {
        let gateway = try await withGateway { stub, gateway, client in
            stub.behave(.stall(seconds: 0.5))
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let response = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
                        return response.headers[.init("x-deja-cache")!] ?? "none"
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(stub.calls == 1)
            #expect(outcomes.filter { $0 == "miss" }.count == 1)
            #expect(outcomes.filter { $0 == "coalesced" }.count == 7)
        }
        defer { gateway.cleanUp() }
        #expect(try await gateway.records().map(\.billedTokens).reduce(0, +) == 10)
    }

    @Test func anIdempotentRetryReplaysTheAnswerBilledOnce() async throws {
        let gateway = try await withGateway { stub, gateway, client in
            var headers = gateway.auth
            headers[.init("Idempotency-Key")!] = "order-1"
            let first = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body())
            let again = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body())
            #expect(again.headers[.init("x-deja-idempotent-replay")!] == "true")
            #expect(again.headers[.init("x-deja-billed-tokens")!] == "0")
            #expect(String(buffer: again.body).contains("answer 1") && String(buffer: first.body).contains("answer 1"))
            let other = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body("other"))
            #expect(other.status.code == 422)
            #expect(stub.calls == 1)
        }
        defer { gateway.cleanUp() }
        #expect(try await gateway.records().map(\.billedTokens).reduce(0, +) == 10)
    }

    @Test func aRejectionIsRememberedAndNeverBilled() async throws {
        let gateway = try await withGateway { stub, gateway, client in
            stub.behave(.error(status: 422))
            let first = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
            #expect(first.status.code == 422)
            #expect(try first.decode(PaddleXError.self).errorMsg == "stub says 422")
            let second = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
            #expect(second.status.code == 422)
            #expect(second.headers[.init("x-deja-cache")!] == "negative")
            #expect(stub.calls == 1)
            // A refusal about the moment (429) is not remembered.
            stub.behave(.error(status: 429))
            for _ in 0..<2 {
                let busy = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("busy"))
                #expect(busy.status.code == 429)
            }
            #expect(stub.calls == 3)
        }
        defer { gateway.cleanUp() }
        let accounted = try await gateway.accounted()
        #expect(accounted.map(\.requests).reduce(0, +) == 4 && accounted.allSatisfy { $0.billed == 0 })
        #expect(try await gateway.records().isEmpty)  // billed nothing: counted, never recorded
    }

    @Test func anExpiredAnswerStandsInWhenTheModelFails() async throws {
        let gateway = try await withGateway(configure: { configuration in
            configuration.tasks[0].ttlSeconds = 1
            configuration.tasks[0].ttlJitter = 0
            configuration.tasks[0].failureTTLSeconds = 0
        }) { stub, gateway, client in
            _ = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
            try await Task.sleep(for: .milliseconds(1_100))
            stub.behave(.error(status: 500))
            let stale = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body())
            #expect(stale.status == .ok)
            #expect(stale.headers[.init("x-deja-cache")!] == "stale")
            #expect(String(buffer: stale.body).contains("answer 1"))
            // An input never answered has nothing to stand in: the model's failure is the client's 502.
            let failed = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("new"))
            #expect(failed.status.code == 502)
        }
        gateway.cleanUp()
    }

    @Test func theBreakerOpensAfterConsecutiveFailuresAndFailsFast() async throws {
        let gateway = try await withGateway(configure: { configuration in
            configuration.tasks[0].breakerFailures = 2
            configuration.tasks[0].breakerMinimumTenants = 1
            configuration.tasks[0].breakerOpenSeconds = 60
            configuration.tasks[0].failureTTLSeconds = 0
        }) { stub, gateway, client in
            stub.behave(.error(status: 503))
            for text in ["a", "b"] {
                let response = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body(text))
                #expect(response.status.code == 502)
            }
            let open = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("c"))
            #expect(open.status.code == 503)
            #expect(open.headers[.retryAfter] != nil)
            #expect(try open.decode(PaddleXError.self).errorMsg.contains("circuit open"))
            #expect(stub.calls == 2)
        }
        gateway.cleanUp()
    }
}
