@testable import DejaLedger
import DejaCore
import Foundation
import Logging
import PostgresNIO
import SQLiteNIO
import Testing

/// The ledger backends the shared suite runs against. PostgreSQL runs only when `DEJA_POSTGRES_URL` is set
/// (`eval "$(scripts/postgres.sh start)"` starts a server and prints it).
enum Backend: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static let postgresURL = ProcessInfo.processInfo.environment["DEJA_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// SQLite always; PostgreSQL when `DEJA_POSTGRES_URL` is set.
    static let enabled: [Backend] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]

    var testDescription: String { rawValue }
}

/// One fresh ledger database (a SQLite file in a temporary directory, or a PostgreSQL schema) that
/// several ledgers may open in turn or at once.
struct LedgerStore: Sendable {
    let backend: Backend
    /// The SQLite file path, or the PostgreSQL schema name.
    let location: String

    init(_ backend: Backend) throws {
        self.backend = backend
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("deja-ledger-\(UUID().uuidString)", isDirectory: true)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            location = directory.appendingPathComponent("ledger.sqlite").path
        case .postgres:
            location = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        }
    }

    func open(clock: ManualClock, options: LedgerOptions = LedgerOptions()) async throws -> any Ledger {
        switch backend {
        case .sqlite:
            return try await SQLiteLedger.open(path: location, clock: clock.wallClock, options: options)
        case .postgres:
            return try await PostgresLedger.open(configuration: postgresConfiguration(options: options), clock: clock.wallClock)
        }
    }

    func postgresConfiguration(options: LedgerOptions = LedgerOptions()) throws -> PostgresLedger.Configuration {
        var configuration = try PostgresLedger.Configuration(url: try #require(Backend.postgresURL))
        configuration.schema = location
        configuration.maximumConnections = 8
        configuration.options = options
        return configuration
    }

    /// Runs SQL straight on the store's PostgreSQL schema, outside any ledger.
    func withPostgres<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try postgresConfiguration().client)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// The schema version a fully migrated store has.
    var currentVersion: Int {
        backend == .sqlite ? LedgerSchema.currentVersion : PostgresSchema.currentVersion
    }

    /// Creates the schema as a Deja that knew only the first `version` migrations did, then runs
    /// `statements` (e.g. rows that Deja wrote), outside any ledger.
    func createSchema(version: Int, then statements: [String] = []) async throws {
        let migrations = backend == .sqlite ? LedgerSchema.migrations : PostgresSchema.migrations
        var script = ["CREATE TABLE schema_version (version INTEGER NOT NULL)"]
        for (index, migration) in migrations.prefix(version).enumerated() {
            script += migration + ["INSERT INTO schema_version (version) VALUES (\(index + 1))"]
        }
        script += statements
        switch backend {
        case .sqlite:
            let raw = try await SQLiteConnection.open(storage: .file(path: location))
            do {
                for statement in script { _ = try await raw.query(statement) }
            } catch {
                try? await raw.close()
                throw error
            }
            try await raw.close()
        case .postgres:
            try await withPostgres { client in
                try await client.query("CREATE SCHEMA \(unescaped: location)")
                // In one transaction, as Deja migrates (a migration may LOCK a table).
                try await client.withTransaction(logger: Logger(label: "test")) { connection in
                    for statement in script { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: Logger(label: "test")) }
                }
            }
        }
    }

    /// Removes the file's directory or drops the schema.
    func destroy() async {
        switch backend {
        case .sqlite:
            try? FileManager.default.removeItem(at: URL(fileURLWithPath: location).deletingLastPathComponent())
        case .postgres:
            _ = try? await withPostgres { client in
                try await client.query("DROP SCHEMA IF EXISTS \(unescaped: location) CASCADE")
            }
        }
    }
}

/// Opens a ledger on a fresh store, runs `body`, closes the ledger and destroys the store.
func withLedger(
    _ backend: Backend,
    clock: ManualClock,
    options: LedgerOptions = LedgerOptions(),
    _ body: (any Ledger) async throws -> Void
) async throws {
    let store = try LedgerStore(backend)
    let ledger: any Ledger
    do {
        ledger = try await store.open(clock: clock, options: options)
    } catch {
        await store.destroy()
        throw error
    }
    do {
        try await body(ledger)
    } catch {
        try? await ledger.close()
        await store.destroy()
        throw error
    }
    try await ledger.close()
    await store.destroy()
}

/// 2026-01-01T00:00:00Z.
let newYear2026: Double = 1_767_225_600

func usageRecord(
    _ outcome: Outcome,
    at time: Double,
    tenant: String = "acme",
    keyID: String = "key_0123456789ab",
    task: String = "ocr",
    metered: Int64 = 0,
    billed: Int64 = 0,
    modelSeconds: Double = 0
) -> UsageRecord {
    UsageRecord(
        time: time, tenant: tenant, keyID: keyID, task: task, outcome: outcome,
        meteredTokens: metered, billedTokens: billed, latencyMicros: 1500,
        status: outcome == .error ? 502 : 200, modelSeconds: modelSeconds
    )
}
