import DejaGateway
import DejaLedger
@testable import DejaServer
import Foundation
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import Testing

/// The metrics deploy/prometheus/deja-alerts.yml reads that the gateway adds for it: model servers'
/// breakers and the ledger's commit latency.
@Suite struct AlertMetricsTests {
    @Test func upstreamLabelsAreHostAndPortWithoutCredentials() {
        let labels = MetricsController<DejaRequestContext>.upstreamLabels([
            "http://deja:s3cret@10.0.0.5:8866/ocr", "https://models.example/ocr", "http://[::1]:9000/x", "http://10.0.0.5:8866/other",
        ])
        #expect(labels == ["10.0.0.5:8866#1", "models.example:443", "[::1]:9000", "10.0.0.5:8866#4"])
        #expect(!labels.contains { $0.contains("s3cret") || $0.contains("deja") })
    }

    @Test func theUpstreamBreakerGaugeFollowsTheBreaker() async throws {
        // Port 9 refuses connections: one failed call opens a breaker that needs one failure.
        let gateway = try await TestGateway.make { $0.tasks[0].breakerFailures = 1 }
        defer { gateway.cleanUp() }
        let body = ByteBuffer(string: "{\"file\": \"aGVsbG8gd29ybGQ=\", \"fileType\": 1}")
        try await gateway.test { client in
            let series = #"deja_upstream_circuit_open{task="ocr",upstream="127.0.0.1:9"}"#
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("\(series) 0"))
            }
            try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body) { response in
                #expect(response.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(String(buffer: response.body).contains("\(series) 1"))
            }
        }
    }

    @Test func ledgerCommitsAreTimedByKindInTheirBuckets() async throws {
        let folder = NSTemporaryDirectory() + "deja-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var configuration = DejaConfiguration()
        configuration.storage.path = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: Logger(label: "test"))
        let registry = PrometheusCollectorRegistry()
        let recorder = UsageRecorder(ledger: ledger, logger: Logger(label: "test"), metrics: DejaMetrics.factory(registry: registry))
        func record(_ outcome: Outcome) -> UsageRecord {
            UsageRecord(time: 1_800_000_000, tenant: "acme", keyID: "k1", task: "ocr", outcome: outcome, meteredTokens: 10,
                        billedTokens: outcome == .miss ? 10 : 0, latencyMicros: 1000, status: 200, modelSeconds: 0, contentKey: nil)
        }
        recorder.enqueue(record(.hit))
        recorder.enqueue(record(.hit))
        #expect(await recorder.flush())
        #expect(await recorder.flush())  // nothing queued: nothing committed, nothing timed
        try await recorder.measuringBilledCommit { try await recorder.recordNow(record(.miss)) }
        try await ledger.close()

        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = String(decoding: buffer, as: UTF8.self)
        #expect(text.contains(#"deja_ledger_commit_seconds_count{write="batch"} 1"#))
        #expect(text.contains(#"deja_ledger_commit_seconds_count{write="billed"} 1"#))
        // The buckets run from 1 ms to 5 s, not the backend's default (5 ms to 10 s).
        #expect(text.contains(#"deja_ledger_commit_seconds_bucket{write="batch",le="0.001"}"#))
        #expect(text.contains(#"deja_ledger_commit_seconds_bucket{write="batch",le="5.0"}"#))
        #expect(!text.contains(#"le="10.0""#))
    }
}
