@testable import DejaLedger
import DejaCore
import Foundation
import PostgresNIO
import SQLiteNIO
import Testing

@Suite struct LedgerLifetimeTests {
    let clock = ManualClock(start: newYear2026)

    func schemaVersions(_ store: LedgerStore) async throws -> [Int] {
        switch store.backend {
        case .sqlite:
            let raw = try await SQLiteConnection.open(storage: .file(path: store.location))
            let rows = try await raw.query("SELECT version FROM schema_version ORDER BY version")
            try await raw.close()
            return rows.compactMap { $0.column("version")?.integer }
        case .postgres:
            return try await store.withPostgres { client in
                var versions: [Int] = []
                for try await version in try await client.query("SELECT version FROM schema_version ORDER BY version").decode(Int.self) {
                    versions.append(version)
                }
                return versions
            }
        }
    }

    @Test(arguments: Backend.enabled)
    func reopeningKeepsEverything(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            let first = try await store.open(clock: clock)
            let secret = try await first.createKey(tenant: "acme", name: "ci").secret
            try await first.record([usageRecord(.miss, at: clock.now, metered: 9, billed: 9)])
            try await first.setQuota(Quota(tenant: "acme", period: .month, limit: 9))
            try await first.close()

            let second = try await store.open(clock: clock)
            #expect(try await second.authenticate(secret: secret)?.tenant == "acme")
            #expect(try await second.usage(UsageQuery()).first?.billedTokens == 9)
            #expect(try await second.quotas(tenant: "acme").count == 1)
            try await second.record([usageRecord(.hit, at: clock.now, metered: 9)])
            #expect(try await second.usage(UsageQuery()).first?.requests == 2)
            try await second.close()
            #expect(try await schemaVersions(store) == Array(1...store.currentVersion))
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    @Test(arguments: Backend.enabled)
    func instancesStartingTogetherMigrateOnce(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            let ledgers = try await withThrowingTaskGroup(of: (any Ledger).self) { group in
                for _ in 0..<4 { group.addTask { try await store.open(clock: clock) } }
                var ledgers: [any Ledger] = []
                for try await ledger in group { ledgers.append(ledger) }
                return ledgers
            }
            for ledger in ledgers { try await ledger.close() }
            #expect(try await schemaVersions(store) == Array(1...store.currentVersion))
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    @Test(arguments: Backend.enabled)
    func refusesADatabaseFromANewerVersion(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            try await store.open(clock: clock).close()
            switch backend {
            case .sqlite:
                let raw = try await SQLiteConnection.open(storage: .file(path: store.location))
                _ = try await raw.query("INSERT INTO schema_version (version) VALUES (99)")
                try await raw.close()
            case .postgres:
                try await store.withPostgres { client in
                    try await client.query("INSERT INTO schema_version (version) VALUES (99)")
                }
            }
            let error = try await #require(throws: LedgerError.self) { try await store.open(clock: clock) }
            #expect(error.code == .migrationFailed)
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    @Test(arguments: Backend.enabled)
    func throwsClosedAfterClose(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        let ledger = try await store.open(clock: clock)
        try await ledger.close()
        try await ledger.close()
        let error = try await #require(throws: LedgerError.self) {
            try await ledger.record([usageRecord(.hit, at: clock.now)])
        }
        #expect(error.code == .closed)
        await #expect(throws: LedgerError.self) { try await ledger.authenticate(secret: "dk_x") }
        await #expect(throws: LedgerError.self) { try await ledger.reserve(tenant: "a", keyID: "k", tokens: 1, at: 0) }
        await store.destroy()
    }
}

@Suite struct PostgresConfigurationTests {
    @Test func parsesAURL() throws {
        let configuration = try PostgresLedger.Configuration(url: "postgres://deja:p%40ss@127.0.0.1:15432/deja?schema=billing")
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 15432)
        #expect(configuration.username == "deja")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == "deja")
        #expect(configuration.schema == "billing")
        let defaults = try PostgresLedger.Configuration(url: "postgresql://u@db.example/ledger")
        #expect(defaults.port == 5432)
        #expect(defaults.password == nil)
        #expect(defaults.schema == nil)
    }

    @Test(arguments: [
        "http://u:p@h/db", "postgres://h/db", "postgres://u:p@h", "postgres://u:p@h/db?sslmode=maybe",
        "postgres://u:p@h/db?schema=bad-name", "postgres://u:p@h/db?schema=1x",
    ])
    func rejectsABadURL(_ url: String) throws {
        let error = try #require(throws: LedgerError.self) { try PostgresLedger.Configuration(url: url) }
        #expect(error.code == .invalidArgument)
        #expect(!error.description.contains("p@"))
    }

    @Test func failsCleanlyWhenTheServerIsDown() async throws {
        var configuration = try PostgresLedger.Configuration(url: "postgres://u:p@127.0.0.1:1/db")
        configuration.connectTimeout = .seconds(2)
        let error = try await #require(throws: LedgerError.self) { try await PostgresLedger.open(configuration: configuration) }
        #expect(error.code == .migrationFailed)
    }
}
