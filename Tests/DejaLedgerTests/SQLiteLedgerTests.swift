@testable import DejaLedger
import DejaCore
import Foundation
import SQLiteNIO
import Testing

/// What only the SQLite backend has: a file on disk. Everything else runs in the shared, per-backend suites.
@Suite struct SQLiteLedgerTests {
    let clock = ManualClock(start: newYear2026)

    func withLedger(_ body: (SQLiteLedger, String) async throws -> Void) async throws {
        let store = try LedgerStore(.sqlite)
        defer { try? FileManager.default.removeItem(atPath: (store.location as NSString).deletingLastPathComponent) }
        let ledger = try await SQLiteLedger.open(path: store.location, clock: clock.wallClock)
        do {
            try await body(ledger, store.location)
        } catch {
            try? await ledger.close()
            throw error
        }
        try await ledger.close()
    }

    /// A ledger remembers that no budget applies to a key (``QuotaMemo``), so a reservation need not
    /// read the budgets; a budget set, topped up or removed by another process on the same file (as
    /// `deja quota set` does while the gateway runs) applies to the very next reservation.
    @Test func budgetsChangedByAnotherProcessApplyAtOnce() async throws {
        try await withLedger { gateway, path in
            let command = try await SQLiteLedger.open(path: path, clock: clock.wallClock)
            do {
                let now = clock.now
                for _ in 0..<3 {  // remembered: no budget applies to key_a
                    #expect(try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: now).holds == false)
                }
                try await command.setQuota(Quota(tenant: "acme", period: .prepaid, limit: 3))
                let refused = try await #require(throws: LedgerError.self) {
                    _ = try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: now)
                }
                #expect(refused.code == .quotaExceeded)
                try await command.topUp(tenant: "acme", keyID: nil, tokens: 10)
                #expect(try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: now).holds)
                #expect(try await command.removeQuota(tenant: "acme", keyID: nil, period: .prepaid))
                #expect(try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 500, at: now).holds == false)
                // Set by hand, without the signal: applies once what was remembered expires.
                #expect(try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: now).holds == false)
                _ = try await command.writer.query(
                    "INSERT INTO quotas (tenant, key_id, period, quota_limit, since) VALUES ('acme', '', 'prepaid', 1, ?)", [.float(now)])
                clock.advance(by: SQLiteLedger.quotaMemoSeconds + 0.1)
                let expired = try await #require(throws: LedgerError.self) {
                    _ = try await gateway.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
                }
                #expect(expired.code == .quotaExceeded)
            } catch {
                try? await command.close()  // an unclosed connection traps when released
                throw error
            }
            try await command.close()
        }
    }

    @Test func theSignalIsAFileBesideTheLedgerThatChangesWithEveryBudget() async throws {
        try await withLedger { ledger, path in
            let signal = QuotaSignal(ledgerPath: path)
            let before = try #require(signal.current())
            #expect(FileManager.default.fileExists(atPath: path + "-quotas"))
            try await ledger.setQuota(Quota(tenant: "acme", period: .day, limit: 1))
            let after = try #require(signal.current())
            #expect(after != before)
            let mode = try FileManager.default.attributesOfItem(atPath: path + "-quotas")[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func secretsAreURLSafe() async throws {
        try await withLedger { ledger, _ in
            let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            for n in 0..<20 {
                let secret = try await ledger.createKey(tenant: "t", name: "k\(n)").secret
                #expect(secret.dropFirst(3).unicodeScalars.allSatisfy { allowed.contains($0) })
            }
        }
    }

    @Test func base64URLMatchesFoundation() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(APISecret.base64URL(bytes) == expected)
        }
    }

    @Test func storesOnlyAHashOfTheSecret() async throws {
        try await withLedger { ledger, path in
            var secrets: [String] = []
            for n in 0..<5 { secrets.append(try await ledger.createKey(tenant: "acme", name: "k\(n)").secret) }
            var bytes = Data()
            for suffix in ["", "-wal", "-shm"] {
                bytes.append((try? Data(contentsOf: URL(fileURLWithPath: path + suffix))) ?? Data())
            }
            #expect(bytes.count > 0)
            for secret in secrets {
                #expect(bytes.range(of: Data(secret.utf8)) == nil)
                #expect(bytes.range(of: Data(secret.dropFirst(3).utf8)) == nil)
                // The SHA-256 digest is what is kept.
                #expect(bytes.range(of: Data(APISecret.hash(secret))) != nil)
            }
        }
    }

    @Test func commitsDurably() async throws {
        try await withLedger { ledger, _ in
            let journal = try await ledger.writer.query("PRAGMA journal_mode")
            #expect(journal.first?.column("journal_mode")?.string == "wal")
            let synchronous = try await ledger.writer.query("PRAGMA synchronous")
            #expect(synchronous.first?.column("synchronous")?.integer == 2)  // FULL
        }
    }

    @Test func retentionGivesFreedPagesBackToTheFileSystem() async throws {
        try await withLedger { ledger, _ in
            let mode = try await ledger.writer.query("PRAGMA auto_vacuum")
            #expect(mode.first?.column("auto_vacuum")?.integer == 2)  // INCREMENTAL
            func pages(_ pragma: String) async throws -> Int {
                try await ledger.writer.query("PRAGMA \(pragma)").first?.column(pragma)?.integer ?? -1
            }
            // 20,000 billed answers (a few MB), then all of them past their retention.
            for batch in 0..<20 {
                try await ledger.record((0..<1000).map {
                    var record = usageRecord(.miss, at: newYear2026 + Double(batch * 1000 + $0), metered: 10, billed: 10)
                    record.contentKey = CacheKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
                    return record
                })
            }
            let full = try await pages("page_count")
            var steps = 0
            while try await ledger.purgeUsage(recordsBefore: newYear2026 + 86_400, countsBefore: nil, limit: 1000) > 0 { steps += 1 }
            #expect(steps == 20)
            // Without auto-vacuum the file would keep its size with every page free; here they went back.
            #expect(try await pages("freelist_count") < SQLiteLedger.vacuumPages)
            let emptied = try await pages("page_count")
            #expect(full > 500 && emptied < full / 4, "\(full) pages before, \(emptied) after")
        }
    }

    @Test func upgradesAVersionOneFile() async throws {
        let store = try LedgerStore(.sqlite)
        defer { try? FileManager.default.removeItem(atPath: (store.location as NSString).deletingLastPathComponent) }
        // A file as the first release wrote it.
        let raw = try await SQLiteConnection.open(storage: .file(path: store.location))
        _ = try await raw.query("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in LedgerSchema.migrations[0] { _ = try await raw.query(statement) }
        _ = try await raw.query("INSERT INTO schema_version (version) VALUES (1)")
        _ = try await raw.query(
            "INSERT INTO usage (time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds) VALUES (?, 'acme', 'key_a', 'ocr', 'miss', 7, 7, 1, 200, 0)",
            [.float(newYear2026)]
        )
        try await raw.close()

        let ledger = try await SQLiteLedger.open(path: store.location, clock: clock.wallClock)
        try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 10))
        let error = try await #require(throws: LedgerError.self) {
            try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 4, at: newYear2026 + 1)
        }
        #expect(error.quotaExceeded?.used == 7)
        try await ledger.close()
    }
}
