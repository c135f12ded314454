import DejaCore
import DejaLedger
import DejaServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import Testing

/// The event-loop hit path and the router give the same answer: for every outcome of the cached-answer
/// policy, one request observed over real HTTP with `server.fastPath` on (answered from the request's
/// bytes, and with `server.plainHits` off from parsed HTTP/1) and off gives the same status,
/// Deja headers, body (but its fresh `logId`) and ledger record. Where the policy says the answer is
/// immediate, the fast path must really have served it (its counter), so the comparison is never vacuous.
@Suite(.serialized) struct PathParityTests {
    enum Scenario: String, CaseIterable, Sendable {
        case hit, pricedHit, hitsPastBudgetOff, maxAge, noCache, staleIfError, negative

        /// Whether the event loop answers it (the policy's ``CachedAnswerPolicy/Serving/isImmediate``).
        var servedOnTheEventLoop: Bool { self == .hit || self == .negative }
    }

    /// What a client and the ledger saw of the observed request.
    struct Observed: Equatable, CustomStringConvertible {
        var status: Int
        var headers: [String: String]
        var body: String
        var outcome: String
        var metered: Int64
        var billed: Int64
        var recordStatus: Int

        var description: String { "\(status) \(headers) \(outcome) metered \(metered) billed \(billed) \(body)" }
    }

    static let body = ByteBuffer(string: #"{"file": "aGVsbG8gd29ybGQ=", "fileType": 1}"#)
    static let deja: [String] = ["content-type", "x-deja-cache", "x-deja-key", "x-deja-tokens", "x-deja-billed-tokens", "x-deja-model-version", "age"]

    func observe(_ scenario: Scenario, fastPath: Bool, plainHits: Bool = true, stub: StubModel) async throws -> (Observed, fastHits: String, plainAnswers: String) {
        stub.reset()
        let gateway = try await TestGateway.make { configuration in
            configuration.server.fastPath = fastPath
            configuration.server.plainHits = plainHits
            configuration.tasks[0].upstream = stub.url + "/ocr"
            configuration.tasks[0].ttlSeconds = scenario == .staleIfError || scenario == .maxAge ? 1 : 600
            configuration.tasks[0].ttlJitter = 0
            configuration.tasks[0].hitPrice = scenario == .pricedHit ? 0.5 : 0
            configuration.tasks[0].hitsPastBudget = scenario != .hitsPastBudgetOff
        }
        defer { gateway.cleanUp() }
        let registry = PrometheusCollectorRegistry()
        let observed = try await gateway.testLive(registry: registry) { client -> (Int, [String: String], String) in
            stub.behave(scenario == .negative ? .error(status: 422) : .answer(pages: 2))
            let first = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body)
            #expect(first.status.code == (scenario == .negative ? 422 : 200))
            if scenario == .staleIfError || scenario == .maxAge {
                try await Task.sleep(for: .milliseconds(1_100))  // past the 1 s TTL, or one second of age
            }
            if scenario == .staleIfError { stub.behave(.error(status: 500)) }
            var headers = gateway.auth
            switch scenario {
            case .maxAge: headers[.cacheControl] = "max-age=0"
            case .noCache: headers[.cacheControl] = "no-cache"
            default: break
            }
            let response = try await client.execute(uri: "/ocr", method: .post, headers: headers, body: Self.body)
            var fields: [String: String] = [:]
            for name in Self.deja {
                fields[name] = response.headers[HTTPField.Name(name)!]
            }
            return (Int(response.status.code), fields, String(buffer: response.body))
        }
        // The observed request is what the ledger accounts for besides the first request: that one's
        // record (a miss), or its count (the model's rejection, an error).
        var accounted = try await gateway.accounted()
        let first = try #require(accounted.firstIndex { $0.outcome == (scenario == .negative ? .error : .miss) })
        accounted[first].requests -= 1
        accounted.removeAll { $0.requests == 0 }
        #expect(accounted.map(\.requests) == [1])
        let record = try #require(accounted.first)
        var body = try JSONSerialization.jsonObject(with: Data(observed.2.utf8)) as? [String: Any] ?? [:]
        #expect((body.removeValue(forKey: "logId") as? String)?.count == 36)
        let canonical = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
        var metrics: [UInt8] = []
        registry.emit(into: &metrics)
        func counter(_ name: String) -> String {
            String(decoding: metrics, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(name + "{") }
                .map { String($0.split(separator: " ").last ?? "") } ?? "absent"
        }
        return (Observed(status: observed.0, headers: observed.1, body: canonical, outcome: record.outcome.rawValue,
                         metered: record.metered, billed: record.billed, recordStatus: record.status),
                counter("deja_fast_path_hits_total"), counter("deja_plain_answers_total"))
    }

    @Test(arguments: Scenario.allCases)
    func bothPathsAnswerAlike(_ scenario: Scenario) async throws {
        let stub = try await StubModel.start()
        let (router, _, _) = try await observe(scenario, fastPath: false, stub: stub)
        let (fast, fastHits, plainAnswers) = try await observe(scenario, fastPath: true, stub: stub)
        let (parsed, parsedHits, parsedPlain) = try await observe(scenario, fastPath: true, plainHits: false, stub: stub)
        await stub.stop()
        #expect(fast == router, "\(scenario): fast path \(fast) vs router \(router)")
        #expect(fastHits == (scenario.servedOnTheEventLoop ? "1" : "0"), "\(scenario): the event loop answered \(fastHits)")
        // The answers from the request's bytes (PlainHitHandler) are the ones checked above; with them
        // off, the event loop's HTTP/1 path answers the same.
        #expect(plainAnswers == (scenario.servedOnTheEventLoop ? "1" : "0"), "\(scenario): answered from the bytes \(plainAnswers)")
        #expect(parsed == router, "\(scenario): HTTP/1 fast path \(parsed) vs router \(router)")
        #expect(parsedHits == fastHits && parsedPlain == "0")
        // What the policy table says each outcome is.
        let expected: (status: Int, cache: String, billed: String) = switch scenario {
        case .hit, .hitsPastBudgetOff: (200, "hit", "0")
        case .pricedHit: (200, "hit", "10")  // half of 2 pages × 10 tokens
        case .maxAge: (200, "miss", "20")
        case .noCache: (200, "bypass", "20")
        case .staleIfError: (200, "stale", "0")
        case .negative: (422, "negative", "0")
        }
        #expect(router.status == expected.status)
        #expect(router.headers["x-deja-cache"] == expected.cache)
        #expect(router.headers["x-deja-billed-tokens"] == expected.billed)
        #expect(router.outcome == expected.cache)
    }
}
