@testable import DejaLedger
import DejaCore
import Foundation
import SQLiteNIO
import Testing

@Suite struct SQLiteLedgerTests {
    let clock = ManualClock(start: 1_767_225_600)  // 2026-01-01T00:00:00Z

    /// Runs `body` with a ledger open on a fresh file; closes it and removes the directory afterwards.
    func withLedger(_ body: (SQLiteLedger, String) async throws -> Void) async throws {
        let (path, directory) = try temporaryFile("tests")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = try await SQLiteLedger.open(path: path, clock: clock.wallClock)
        do {
            try await body(ledger, path)
        } catch {
            try? await ledger.close()
            throw error
        }
        try await ledger.close()
    }

    // MARK: Keys

    @Test func createsAndAuthenticatesKeys() async throws {
        try await withLedger { ledger, _ in
            let (info, secret) = try await ledger.createKey(tenant: "acme", name: "ci")
            #expect(info.tenant == "acme")
            #expect(info.name == "ci")
            #expect(info.createdAt == clock.now)
            #expect(!info.isRevoked)
            #expect(secret.hasPrefix("dk_"))
            #expect(secret.count == 46)
            #expect(info.id.hasPrefix("key_"))
            #expect(info.id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) } && info.id.count == 16)

            #expect(try await ledger.authenticate(secret: secret) == info)
            #expect(try await ledger.authenticate(secret: secret + "x") == nil)
            #expect(try await ledger.authenticate(secret: "dk_unknown") == nil)
            #expect(try await ledger.authenticate(secret: "") == nil)
            #expect(try await ledger.authenticate(secret: secret + String(repeating: "a", count: 5000)) == nil)
            #expect(try await ledger.authenticate(secret: "readiness-probe") == nil)
        }
    }

    @Test func secretsAreUniqueAndURLSafe() async throws {
        try await withLedger { ledger, _ in
            var secrets: Set<String> = []
            var ids: Set<String> = []
            for n in 0..<20 {
                let (info, secret) = try await ledger.createKey(tenant: "t", name: "k\(n)")
                secrets.insert(secret)
                ids.insert(info.id)
                let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                #expect(secret.dropFirst(3).unicodeScalars.allSatisfy { allowed.contains($0) })
            }
            #expect(secrets.count == 20)
            #expect(ids.count == 20)
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

    @Test func listsKeysByTenant() async throws {
        try await withLedger { ledger, _ in
            let a1 = try await ledger.createKey(tenant: "a", name: "one").info
            clock.advance(by: 1)
            let b1 = try await ledger.createKey(tenant: "b", name: "one").info
            clock.advance(by: 1)
            let a2 = try await ledger.createKey(tenant: "a", name: "two").info

            #expect(try await ledger.listKeys(tenant: "a") == [a1, a2])
            #expect(try await ledger.listKeys(tenant: "b") == [b1])
            #expect(try await ledger.listKeys(tenant: "c") == [])
            #expect(try await ledger.listKeys(tenant: nil) == [a1, b1, a2])
        }
    }

    @Test func revokedKeysNoLongerAuthenticate() async throws {
        try await withLedger { ledger, _ in
            let (info, secret) = try await ledger.createKey(tenant: "acme", name: "ci")
            let (other, otherSecret) = try await ledger.createKey(tenant: "acme", name: "prod")
            clock.advance(by: 10)
            #expect(try await ledger.revokeKey(id: info.id))
            #expect(try await ledger.authenticate(secret: secret) == nil)
            #expect(try await ledger.authenticate(secret: otherSecret) == other)

            let listed = try #require(try await ledger.listKeys(tenant: "acme").first { $0.id == info.id })
            #expect(listed.revokedAt == clock.now)

            clock.advance(by: 10)
            #expect(try await ledger.revokeKey(id: info.id))  // still exists; first revocation time kept
            #expect(try await ledger.listKeys(tenant: "acme").first { $0.id == info.id }?.revokedAt == listed.revokedAt)
            #expect(try await ledger.revokeKey(id: "key_000000000000") == false)
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

    @Test func rejectsAnEmptyTenant() async throws {
        try await withLedger { ledger, _ in
            let error = try await #require(throws: LedgerError.self) {
                try await ledger.createKey(tenant: "", name: "x")
            }
            #expect(error.code == .invalidArgument)
        }
    }

    // MARK: Usage

    func record(
        _ outcome: Outcome,
        at time: Double,
        tenant: String = "acme",
        task: String = "ocr",
        metered: Int64 = 0,
        billed: Int64 = 0,
        modelSeconds: Double = 0
    ) -> UsageRecord {
        UsageRecord(
            time: time, tenant: tenant, keyID: "key_0123456789ab", task: task, outcome: outcome,
            meteredTokens: metered, billedTokens: billed, latencyMicros: 1500,
            status: outcome == .error ? 502 : 200, modelSeconds: modelSeconds
        )
    }

    @Test func reportsTheArithmetic() async throws {
        try await withLedger { ledger, _ in
            let t = clock.now + 3600
            try await ledger.record([
                record(.hit, at: t, metered: 100, billed: 0, modelSeconds: 1.0),
                record(.hit, at: t + 1, metered: 50, billed: 5, modelSeconds: 0.5),
                record(.coalesced, at: t + 2, metered: 100, billed: 0, modelSeconds: 1.0),
                record(.stale, at: t + 3, metered: 30, billed: 0, modelSeconds: 0.25),
                record(.miss, at: t + 4, metered: 100, billed: 100, modelSeconds: 2.0),
                record(.error, at: t + 5),
                record(.negative, at: t + 6, metered: 10, billed: 10),
                record(.bypass, at: t + 7, metered: 20, billed: 20, modelSeconds: 1.0),
            ])
            let rows = try await ledger.usage(UsageQuery())
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.tenant == "acme")
            #expect(row.task == "ocr")
            #expect(row.day == "2026-01-01")
            #expect(row.requests == 8)
            #expect(row.hits == 2)
            #expect(row.coalesced == 1)
            #expect(row.misses == 1)
            #expect(row.errors == 1)
            #expect(row.billedTokens == 135)
            #expect(row.savedTokens == 275)
            #expect(abs(row.modelSecondsSaved - 2.75) < 1e-9)
            #expect(abs(row.hitRatio - 3.0 / 7.0) < 1e-12)
        }
    }

    @Test func hitRatioIsZeroWhenEveryRequestFailed() async throws {
        try await withLedger { ledger, _ in
            try await ledger.record([record(.error, at: clock.now), record(.error, at: clock.now)])
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 2)
            #expect(row.errors == 2)
            #expect(row.hitRatio == 0)
            #expect(row.savedTokens == 0)
        }
    }

    @Test func groupsByUTCDayTaskAndTenant() async throws {
        try await withLedger { ledger, _ in
            let midnight = clock.now  // 2026-01-01T00:00:00Z
            try await ledger.record([
                record(.miss, at: midnight - 0.001, metered: 1, billed: 1),  // 2025-12-31
                record(.miss, at: midnight, metered: 2, billed: 2),
                record(.hit, at: midnight + 86_399.5, metered: 4),
                record(.miss, at: midnight + 86_400, metered: 8, billed: 8),  // 2026-01-02
                record(.miss, at: midnight + 10, task: "layout", metered: 16, billed: 16),
                record(.miss, at: midnight + 10, tenant: "globex", metered: 32, billed: 32),
            ])
            let rows = try await ledger.usage(UsageQuery())
            let summary = rows.map { "\($0.day) \($0.tenant ?? "-") \($0.task) \($0.requests) \($0.billedTokens)" }
            #expect(summary == [
                "2025-12-31 acme ocr 1 1",
                "2026-01-01 acme layout 1 16",
                "2026-01-01 acme ocr 2 2",
                "2026-01-01 globex ocr 1 32",
                "2026-01-02 acme ocr 1 8",
            ])
            let acmeOCR = try #require(rows.first { $0.day == "2026-01-01" && $0.tenant == "acme" && $0.task == "ocr" })
            #expect(acmeOCR.hits == 1)
            #expect(acmeOCR.savedTokens == 4)
            #expect(acmeOCR.hitRatio == 0.5)

            let globex = try await ledger.usage(UsageQuery(tenant: "globex"))
            #expect(globex.count == 1)
            #expect(globex.first?.tenant == "globex")
            #expect(globex.first?.billedTokens == 32)
            #expect(try await ledger.usage(UsageQuery(tenant: "nobody")).isEmpty)
        }
    }

    @Test func filtersByTimeRange() async throws {
        try await withLedger { ledger, _ in
            let t = clock.now
            try await ledger.record((0..<10).map { record(.miss, at: t + Double($0) * 10, billed: 1) })
            func requests(_ query: UsageQuery) async throws -> Int64 {
                try await ledger.usage(query).reduce(0) { $0 + $1.requests }
            }
            #expect(try await requests(UsageQuery(from: t + 20)) == 8)  // from is inclusive
            #expect(try await requests(UsageQuery(to: t + 20)) == 2)  // to is exclusive
            #expect(try await requests(UsageQuery(from: t + 20, to: t + 50)) == 3)
            #expect(try await requests(UsageQuery(tenant: "acme", from: t + 85)) == 1)
            #expect(try await requests(UsageQuery(tenant: "other", from: t)) == 0)
        }
    }

    @Test func concurrentRecordsAllLandExactlyOnce() async throws {
        try await withLedger { ledger, _ in
            let t = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        try await ledger.record([
                            record(.miss, at: t + Double(n), metered: Int64(n), billed: Int64(n))
                        ])
                    }
                }
                // Keys can be created while records are being written.
                group.addTask { _ = try await ledger.createKey(tenant: "acme", name: "during") }
                try await group.waitForAll()
            }
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 200)
            #expect(row.billedTokens == Int64((0..<200).reduce(0, +)))
            #expect(try await ledger.listKeys(tenant: "acme").count == 1)
        }
    }

    @Test func recordsLargeBatches() async throws {
        try await withLedger { ledger, _ in
            let batch = (0..<1234).map { record(.hit, at: clock.now + Double($0), metered: 3) }
            try await ledger.record(batch)
            try await ledger.record([])
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 1234)
            #expect(row.savedTokens == 3 * 1234)
        }
    }

    // MARK: Lifetime

    /// A path in a fresh temporary directory, and the directory to remove afterwards.
    func temporaryFile(_ label: String) throws -> (path: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("deja-ledger-\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory.appendingPathComponent("ledger.sqlite").path, directory)
    }

    @Test func reopeningKeepsKeysAndUsage() async throws {
        let (file, directory) = try temporaryFile("reopen")
        defer { try? FileManager.default.removeItem(at: directory) }

        let first = try await SQLiteLedger.open(path: file, clock: clock.wallClock)
        let secret = try await first.createKey(tenant: "acme", name: "ci").secret
        try await first.record([record(.miss, at: clock.now, metered: 9, billed: 9)])
        try await first.close()

        let second = try await SQLiteLedger.open(path: file, clock: clock.wallClock)
        #expect(try await second.authenticate(secret: secret)?.tenant == "acme")
        #expect(try await second.usage(UsageQuery()).first?.billedTokens == 9)
        try await second.record([record(.hit, at: clock.now, metered: 9)])
        #expect(try await second.usage(UsageQuery()).first?.requests == 2)
        try await second.close()

        let raw = try await SQLiteConnection.open(storage: .file(path: file))
        let versions = try await raw.query("SELECT version FROM schema_version ORDER BY version")
        try await raw.close()
        #expect(versions.compactMap { $0.column("version")?.integer } == [1])
    }

    @Test func commitsDurably() async throws {
        try await withLedger { ledger, _ in
            let journal = try await ledger.writer.query("PRAGMA journal_mode")
            #expect(journal.first?.column("journal_mode")?.string == "wal")
            let synchronous = try await ledger.writer.query("PRAGMA synchronous")
            #expect(synchronous.first?.column("synchronous")?.integer == 2)  // FULL
        }
    }

    @Test func refusesADatabaseFromANewerVersion() async throws {
        let (file, directory) = try temporaryFile("newer")
        defer { try? FileManager.default.removeItem(at: directory) }

        let ledger = try await SQLiteLedger.open(path: file, clock: clock.wallClock)
        try await ledger.close()
        let raw = try await SQLiteConnection.open(storage: .file(path: file))
        _ = try await raw.query("INSERT INTO schema_version (version) VALUES (99)")
        try await raw.close()

        let error = try await #require(throws: LedgerError.self) {
            try await SQLiteLedger.open(path: file, clock: clock.wallClock)
        }
        #expect(error.code == .migrationFailed)
    }

    @Test func throwsClosedAfterClose() async throws {
        let (file, directory) = try temporaryFile("closed")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = try await SQLiteLedger.open(path: file, clock: clock.wallClock)
        try await ledger.close()
        try await ledger.close()
        let error = try await #require(throws: LedgerError.self) {
            try await ledger.record([record(.hit, at: clock.now)])
        }
        #expect(error.code == .closed)
        await #expect(throws: LedgerError.self) { try await ledger.authenticate(secret: "dk_x") }
    }
}
