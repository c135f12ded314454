import DejaLedger
import DejaServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus

/// An in-process gateway on a temporary storage folder, with one API key, for router tests.
struct TestGateway {
    let folder: String
    var configuration: DejaConfiguration
    let secret: String
    let keyID: String

    /// A configuration whose model server is unreachable (port 9 on loopback): tests here cover what
    /// must be decided before any model call.
    static func make(
        maxBodyBytes: Int = 1 << 20, adminToken: String? = "admin-secret", configure: (inout DejaConfiguration) -> Void = { _ in }
    ) async throws -> TestGateway {
        let folder = NSTemporaryDirectory() + "deja-test-\(UUID().uuidString)"
        var configuration = DejaConfiguration()
        configuration.storage.path = folder
        configuration.server.maxBodyBytes = maxBodyBytes
        configuration.adminToken = adminToken
        configuration.tasks[0].upstream = "http://127.0.0.1:9/ocr"
        configuration.tasks[0].timeoutSeconds = 2
        configuration.tasks[0].defaults = ["fileType": .number("1")]
        configure(&configuration)
        let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: Logger(label: "test"))
        let (info, secret): (APIKeyInfo, String)
        do {
            (info, secret) = try await ledger.createKey(tenant: "acme", name: "test")
        } catch {
            try? await ledger.close()
            throw error
        }
        try await ledger.close()
        return TestGateway(folder: folder, configuration: configuration, secret: secret, keyID: info.id)
    }

    /// Runs `body` against the app's router; the app's services run and stop around it.
    func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        let app = try await buildApplication(configuration: configuration, logger: Logger(label: "test"))
        return try await app.test(.router, body)
    }

    /// Runs `body` against the app served over real HTTP on loopback — the event-loop hit path included
    /// when `server.fastPath` is on — with `registry` collecting its metrics.
    func testLive<Value: Sendable>(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let app = try await buildApplication(configuration: configuration, registry: registry, logger: Logger(label: "test"))
        return try await app.test(.live, body)
    }

    /// Every usage record of tenant acme, oldest first, read after the app has stopped.
    func records() async throws -> [UsageRecord] {
        let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: Logger(label: "test"))
        let rows = try await ledger.records(UsageQuery(tenant: "acme", from: nil, to: nil))
        try await ledger.close()
        return rows.sorted { $0.time < $1.time }
    }

    /// One line of what the ledger accounts for: a record (1 request) or an hourly count.
    struct Accounted: Equatable {
        var outcome: Outcome
        var metered: Int64
        var billed: Int64
        var status: Int
        var requests: Int64
    }

    /// Every request of tenant acme the ledger accounts for, read after the app has stopped: its records
    /// (billed answers, oldest first), then the hourly counts of what billed nothing.
    func accounted() async throws -> [Accounted] {
        let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: Logger(label: "test"))
        let query = UsageQuery(tenant: "acme", from: nil, to: nil)
        let records = try await ledger.records(query).sorted { $0.time < $1.time }
        let counts = try await ledger.counts(query)
        try await ledger.close()
        return records.map { Accounted(outcome: $0.outcome, metered: $0.meteredTokens, billed: $0.billedTokens, status: $0.status, requests: 1) }
            + counts.map { Accounted(outcome: $0.group.outcome, metered: $0.meteredTokens, billed: $0.billedTokens, status: $0.group.status,
                                     requests: $0.requests) }
    }

    /// The ledger's totals for tenant acme, read after the app has stopped.
    func usage() async throws -> [UsageRow] {
        let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: Logger(label: "test"))
        let rows = try await ledger.usage(UsageQuery(tenant: "acme", from: nil, to: nil))
        try await ledger.close()
        return rows
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    var auth: HTTPFields { [.authorization: "Bearer \(secret)", .contentType: "application/json"] }
}

/// The PaddleX error envelope a task route answers errors with.
struct PaddleXError: Decodable {
    var logId: String
    var errorCode: Int
    var errorMsg: String
}

/// Deja's own error envelope.
struct DejaError: Decodable {
    struct Detail: Decodable {
        var code: String
        var message: String
    }
    var error: Detail
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }
}
