import DejaCache
import DejaCore
import DejaLedger
@testable import DejaServer
import Foundation
import Logging
import NIOCore
import Testing

/// The janitor deletes expired cache entries (memory and SQLite), and reservations nobody settled.
@Suite struct JanitorTests {
    @Test func aSweepDeletesWhatExpiredAndKeepsWhatDidNot() async throws {
        let folder = NSTemporaryDirectory() + "deja-janitor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = ManualClock()
        let t = clock.now
        let memory = MemoryStore(budget: 1 << 20, clock: clock.wallClock)
        let sqlite = try await SQLiteStore.open(path: folder + "/cache.sqlite", sealer: .testing, clock: clock.wallClock)
        let ledger = try await SQLiteLedger.open(path: folder + "/ledger.sqlite", clock: clock.wallClock)

        func entry(retainedFor seconds: Double) -> CacheEntry {
            CacheEntry(body: ByteBuffer(string: "{}"), modelVersion: "v", meteredTokens: 1, createdAt: t,
                       expiresAt: t + seconds, retainUntil: t + seconds)
        }
        let short = try #require(CacheKey(hex: String(repeating: "1", count: 64)))
        let long = try #require(CacheKey(hex: String(repeating: "2", count: 64)))
        for store in [memory as any CacheStore, sqlite] {
            try await store.put(short, entry(retainedFor: 10), sealing: .testing)
            try await store.put(long, entry(retainedFor: 1_000), sealing: .testing)
        }
        _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: t)  // expires after 600 s

        let janitor = Janitor(memory: memory, sqlite: sqlite, redis: nil, indexRetention: [:], ledger: ledger, interval: .seconds(60), logger: Logger(label: "test"))
        await janitor.sweep()
        #expect(memory.count == 2)
        #expect(try await sqlite.count() == 2)
        #expect(try await ledger.purgeExpired().reservations == 0)  // nothing had expired yet

        clock.advance(by: 700)
        await janitor.sweep()
        #expect(memory.count == 1 && memory.entry(for: long) != nil)
        #expect(try await sqlite.purgeExpired() == 0)  // the sweep deleted the expired row already
        #expect(try await sqlite.get(long, sealing: .testing) != nil)
        #expect(try await ledger.purgeExpired().reservations == 0)  // the sweep took it already

        try await sqlite.close()
        try await ledger.close()
    }

    @Test func aSweepDeletesUsagePastItsRetentionInSteps() async throws {
        let folder = NSTemporaryDirectory() + "deja-janitor-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = ManualClock()
        let t = clock.now
        let ledger = try await SQLiteLedger.open(path: folder + "/ledger.sqlite", clock: clock.wallClock)
        func record(_ outcome: Outcome, at time: Double, billed: Int64) -> UsageRecord {
            UsageRecord(time: time, tenant: "acme", keyID: "key_a", task: "ocr", outcome: outcome, meteredTokens: 10,
                        billedTokens: billed, latencyMicros: 10)
        }
        // 2,500 billed answers (more than two steps) and a hit every 100 s over 10 days.
        let day = 86_400.0
        try await ledger.record((0..<2_500).map { record(.miss, at: t + Double($0) * 10 * day / 2_500, billed: 10) })
        var tally = UsageTally()
        for i in 0..<Int(10 * day / 100) { tally.add(record(.hit, at: t + Double(i) * 100, billed: 0)) }
        try await ledger.count(tally)

        clock.advance(by: 10 * day)
        let janitor = Janitor(memory: nil, sqlite: nil, redis: nil, indexRetention: [:], ledger: ledger, interval: .seconds(60),
                              logger: Logger(label: "test"), clock: clock.wallClock, recordRetention: 7 * day, countRetention: 2 * day)
        await janitor.sweep()
        let records = try await ledger.records(UsageQuery())
        #expect(records.count == 1_750 && records.allSatisfy { $0.time >= t + 3 * day })
        #expect(try await ledger.counts(UsageQuery()).allSatisfy { $0.group.hour >= t + 8 * day - 3600 })
        #expect(try await ledger.usage(UsageQuery(groupBy: [])).first?.hits == Int64(2 * day / 100))
        try await ledger.close()
    }
}

extension EntrySealer {
    /// A sealer with one random secret, for tests.
    static let testing = EntrySealer(secrets: try! SealSecrets(parsing: SealSecrets.generate()))
}

extension SealingDigest {
    /// A sealing digest for tests that read back what they stored.
    static let testing = SealingDigest(CacheKey(bytes: [UInt8](repeating: 7, count: 32))!)
}
