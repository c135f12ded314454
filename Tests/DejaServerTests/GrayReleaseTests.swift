import DejaCore
import DejaGateway
import DejaLedger
import DejaServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A gray release end to end against two in-process model servers (the stable version's and the
/// candidate's): stickiness by content, no mixing of the versions' answers, shadow comparisons that
/// are recorded and never billed or served, and the configuration's checks.
@Suite(.serialized) struct GrayReleaseTests {
    static let version = HTTPField.Name("x-deja-model-version")!
    static let cache = HTTPField.Name("x-deja-cache")!

    static func body(_ text: String, extra: String = "") -> ByteBuffer {
        ByteBuffer(string: #"{"file": "\#(Data(text.utf8).base64EncodedString())"\#(extra)}"#)
    }

    /// Runs `body` against a gateway whose OCR task has `stable` as its model server and a candidate
    /// (version `v2`) on `candidate`.
    func withGray(
        fraction: Double, shadow: Double, live: Bool = false,
        _ body: @Sendable (_ stable: StubModel, _ candidate: StubModel, TestGateway, any TestClientProtocol) async throws -> Void
    ) async throws -> TestGateway {
        let stable = try await StubModel.start(), candidate = try await StubModel.start()
        let gateway = try await TestGateway.make { configuration in
            configuration.tasks[0].upstream = stable.url + "/ocr"
            configuration.tasks[0].model.version = "v1"
            var gray = DejaConfiguration.Candidate(modelVersion: "v2", upstream: candidate.url + "/ocr")
            gray.fraction = fraction
            gray.shadow = shadow
            configuration.tasks[0].candidate = gray
        }
        do {
            if live {
                try await gateway.testLive { client in try await body(stable, candidate, gateway, client) }
            } else {
                try await gateway.test { client in try await body(stable, candidate, gateway, client) }
            }
        } catch {
            await stable.stop()
            await candidate.stop()
            throw error
        }
        await stable.stop()
        await candidate.stop()
        return gateway
    }

    /// The version the configuration's gray release chooses for `text`, computed apart from the gateway.
    static func expectedVersion(_ text: String, gateway: TestGateway) throws -> String {
        let task = try #require(try gateway.configuration.taskRuntimes().first)
        let gray = try #require(task.gray)
        let request = try Canonicalizer().canonicalize(body: body(text), policy: task.policy, scope: "acme")
        return gray.choice(for: request, policy: task.policy) == .candidate ? "v2" : "v1"
    }

    @Test(arguments: [false, true])
    func eachDocumentKeepsItsVersionAndTheVersionsNeverMix(live: Bool) async throws {
        let texts = (0..<16).map { "document \($0)" }
        let gateway = try await withGray(fraction: 0.5, shadow: 0, live: live) { stable, candidate, gateway, client in
            stable.behave(.text("stable"))
            candidate.behave(.text("candidate"))
            var versions: [String: String] = [:]
            for text in texts {
                let miss = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body(text))
                #expect(miss.status == .ok)
                #expect(miss.headers[Self.cache] == "miss")
                let version = try #require(miss.headers[Self.version])
                #expect(version == (try Self.expectedVersion(text, gateway: gateway)), "\(text)")
                // The answer is the version's own model server's.
                #expect(String(buffer: miss.body).contains(version == "v2" ? "candidate" : "stable"))
                versions[text] = version
            }
            #expect(Set(versions.values) == ["v1", "v2"], "a fixed set of 16 documents splits both ways at 0.5")
            #expect(stable.calls == versions.values.filter { $0 == "v1" }.count)
            #expect(candidate.calls == versions.values.filter { $0 == "v2" }.count)
            // Repeats (byte-identical and spelled differently) are hits of the same version, twice over.
            for _ in 0..<2 {
                for text in texts {
                    for body in [Self.body(text), Self.body(text, extra: #", "logId": "again""#)] {
                        let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body)
                        #expect(hit.headers[Self.cache] == "hit")
                        #expect(hit.headers[Self.version] == versions[text])
                        #expect(String(buffer: hit.body).contains(versions[text] == "v2" ? "candidate" : "stable"))
                    }
                }
            }
            #expect(stable.calls + candidate.calls == texts.count)
        }
        defer { gateway.cleanUp() }
        let records = try await gateway.records()
        #expect(records.filter { $0.outcome == .miss }.count == texts.count)
        #expect(records.filter { $0.outcome == .miss }.allSatisfy { $0.billedTokens == 10 })
    }

    @Test func explainHealthAndMetricsShowTheCandidate() async throws {
        let gateway = try await withGray(fraction: 0.5, shadow: 0) { stable, candidate, gateway, client in
            stable.behave(.text("stable"))
            candidate.behave(.text("candidate"))
            var admin = HTTPFields()
            admin[.authorization] = "Bearer admin-secret"
            var versions: Set<String> = []
            for n in 0..<12 {
                let answer = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("explained \(n)"))
                let explained = try await client.execute(
                    uri: "/admin/explain?route=/ocr&tenant=acme", method: .post, headers: admin, body: Self.body("explained \(n)"))
                #expect(explained.status == .ok)
                let report = try JSONDecoder().decode([String: JSONAny].self, from: Data(buffer: explained.body))
                #expect(report["key"]?.text == answer.headers[HTTPField.Name("x-deja-key")!])
                #expect(report["modelVersion"]?.text == answer.headers[Self.version])
                versions.insert(answer.headers[Self.version] ?? "")
            }
            #expect(versions == ["v1", "v2"], "12 documents at 0.5 go both ways")
            // The candidate's model servers are checked and measured beside the stable ones.
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(String(buffer: ready.body).contains(#""upstream.ocr.candidate":"#), "\(String(buffer: ready.body))")
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(String(buffer: metrics.body).contains(#"deja_upstream_circuit_open{task="ocr.candidate""#))
        }
        gateway.cleanUp()
    }

    @Test func everyInstanceChoosesTheSameVersions() async throws {
        // Two gateways one after the other, each with its own storage and memory: the choice is the
        // configuration's, computed apart from any gateway.
        for _ in 0..<2 {
            let gateway = try await withGray(fraction: 0.3, shadow: 0) { _, _, gateway, client in
                for n in 0..<12 {
                    let response = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("doc \(n)"))
                    #expect(response.headers[Self.version] == (try Self.expectedVersion("doc \(n)", gateway: gateway)))
                }
            }
            gateway.cleanUp()
        }
    }

    @Test func shadowCallsAreComparedAndRecordedNeverBilledNorServed() async throws {
        let gateway = try await withGray(fraction: 0, shadow: 1) { stable, candidate, gateway, client in
            // Both answer "answer <n>" for their n-th call: the first document agrees; then the
            // candidate adds a line, and the second disagrees.
            let first = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("one"))
            #expect(first.headers[Self.version] == "v1")
            try await Self.waitFor { try await Self.compared(gateway) == 1 }
            #expect(candidate.calls == 1)
            candidate.behave(.text("extra line"))
            let second = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("two"))
            #expect(second.headers[Self.version] == "v1")
            #expect(!String(buffer: second.body).contains("extra line"))
            try await Self.waitFor { try await Self.compared(gateway) == 2 }
            // A hit is not a miss: no shadow call.
            let hit = try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: Self.body("two"))
            #expect(hit.headers[Self.cache] == "hit")
            #expect(!String(buffer: hit.body).contains("extra line"))
            #expect(stable.calls == 2)
            #expect(candidate.calls == 2)
        }
        defer { gateway.cleanUp() }
        let rows = try await Self.report(gateway)
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect((row.task, row.stableVersion, row.candidateVersion, row.compared, row.agreed) == ("ocr", "v1", "v2", 2, 1))
        let example = try #require(row.examples.first)
        #expect(example.difference == "$.pages[0].texts: length 1 vs 2")
        #expect(example.stableDigest != example.candidateDigest)
        #expect(example.key.count == 64)
        // Only the two stable misses are in the ledger's usage; the shadow calls bill nothing.
        let accounted = try await gateway.accounted()
        #expect(accounted.map(\.outcome) == [.miss, .miss, .hit])
        #expect(accounted.map(\.billed).reduce(0, +) == 20)
    }

    @Test func theCandidateIsValidated() throws {
        let stableTask = "tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v1}, candidate: "
        let cases: [(String, [String: String], String)] = [
            (stableTask + "{modelVersion: v1, upstream: 'http://c/ocr'}}]\n", [:], "is the task's own model version"),
            (stableTask + "{modelVersion: v2, upstream: 'http://c/ocr', fraction: 1.5}}]\n", [:], "candidate.fraction"),
            (stableTask + "{modelVersion: v2, upstream: 'http://c/ocr', shadow: -0.1}}]\n", [:], "candidate.shadow"),
            (stableTask + "{modelVersion: v2, upstream: 'c'}}]\n", [:], "http(s) URL"),
            (stableTask + "{modelVersion: v2}}]\n", [:], "upstream"),
            (stableTask + "{modelVersion: v2, upstream: 'http://c/ocr', fractoin: 0.1}}]\n", [:], "unknown setting 'fractoin'"),
            (stableTask + "{modelVersion: v2, upstream: 'http://c/ocr'}}]\n", ["DEJA_TASK_OCR_CANDIDATE_FRACTION": "half"], "not a number"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v1}}]\n",
             ["DEJA_TASK_OCR_CANDIDATE_MODEL_VERSION": "v2"], "set both"),
        ]
        for (yaml, environment, expected) in cases {
            let path = NSTemporaryDirectory() + "deja-gray-\(UUID().uuidString).yaml"
            try yaml.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect {
                _ = try DejaConfiguration.load(path: path, environment: environment)
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }

    @Test func theEnvironmentDeclaresChangesAndRemovesACandidate() throws {
        let environment = [
            "DEJA_TASK_OCR_CANDIDATE_MODEL_VERSION": "v2", "DEJA_TASK_OCR_CANDIDATE_UPSTREAM": "http://c:1/ocr",
            "DEJA_TASK_OCR_CANDIDATE_FRACTION": "0.1", "DEJA_TASK_OCR_CANDIDATE_SHADOW": "0.5",
        ]
        let declared = try DejaConfiguration.load(path: nil, environment: environment)
        let candidate = try #require(declared.tasks[0].candidate)
        #expect((candidate.modelVersion, candidate.upstream, candidate.fraction, candidate.shadow) == ("v2", "http://c:1/ocr", 0.1, 0.5))
        let runtime = try #require(try declared.taskRuntimes().first)
        #expect(runtime.gray?.candidate.policy.modelVersion == "v2")
        #expect(runtime.gray?.candidate.upstreamURL == "http://c:1/ocr")
        #expect(runtime.gray?.candidate.gray == nil)
        // Promotion (or rollback) by environment: an empty version removes the candidate.
        let removed = try DejaConfiguration.load(path: nil, environment: ["DEJA_TASK_OCR_CANDIDATE_MODEL_VERSION": ""])
        #expect(removed.tasks[0].candidate == nil)
        #expect(try removed.taskRuntimes().first?.gray == nil)
    }

    @Test func choicesFollowTheFractionAndShadowTheRest() {
        let candidate = TaskRuntime(
            policy: TaskPolicy(task: "t", modelName: "m", modelVersion: "v2"), route: "/t", upstreamURL: "http://c/t", meter: .perRequest(1))
        let gray = GrayRelease(candidate: candidate, fraction: 0.2, shadow: 0.5)
        #expect(gray.choice(at: 0) == .candidate)
        #expect(gray.choice(at: 0.19) == .candidate)
        #expect(gray.choice(at: 0.2) == .shadowed)  // the first half of [0.2, 1)
        #expect(gray.choice(at: 0.59) == .shadowed)
        #expect(gray.choice(at: 0.61) == .stable)
        #expect(gray.choice(at: 0.999) == .stable)
        let all = GrayRelease(candidate: candidate, fraction: 1, shadow: 1)
        #expect(all.choice(at: 0.999) == .candidate)
        let none = GrayRelease(candidate: candidate, fraction: 0, shadow: 0)
        #expect(none.choice(at: 0) == .stable)
    }

    static func report(_ gateway: TestGateway) async throws -> [GrayReportRow] {
        let ledger = try await DejaComponents.openLedger(configuration: gateway.configuration, logger: Logger(label: "test"))
        let rows = try await ledger.grayReport(GrayQuery(examples: 5))
        try await ledger.close()
        return rows
    }

    static func compared(_ gateway: TestGateway) async throws -> Int64 {
        try await report(gateway).first?.compared ?? 0
    }

    /// Waits (up to a generous bound, not a timing assertion) for a background shadow call's effect.
    static func waitFor(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the shadow comparison never arrived")
    }
}

/// A JSON member read as text when it is a string; other types are ignored.
struct JSONAny: Decodable {
    let text: String?
    init(from decoder: any Decoder) throws {
        text = try? decoder.singleValueContainer().decode(String.self)
    }
}
