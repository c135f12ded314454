@testable import DejaCache
import DejaCore
import DejaRedis
import Foundation
import NIOCore
import Testing

/// Preloading memory from a persistent tier: the shared list of recent keys, sealed entries, and the
/// tiered store opening them on first use.
@Suite struct PreloadTests {
    let clock = ManualClock()

    func withSQLite(_ body: (SQLiteStore) async throws -> Void) async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("cache.sqlite").path, sealer: .testing, clock: clock.wallClock)
        try await body(store)
        try await store.close()
    }

    @Test func memoryListsItsMostRecentKeysWithinABudget() {
        let memory = MemoryStore(budget: 1 << 20, shardCount: 1, clock: clock.wallClock)
        for n in 1...5 { memory.setEntry(Fixture.entry(now: clock.now), for: Fixture.key(n)) }
        _ = memory.entry(for: Fixture.key(2))  // now the most recent
        let charge = MemoryStore.charge(for: Fixture.entry(now: clock.now))
        #expect(memory.recentKeys(upToBytes: 1 << 20) == [2, 5, 4, 3, 1].map(Fixture.key))
        #expect(memory.recentKeys(upToBytes: charge * 2) == [2, 5].map(Fixture.key))
        #expect(memory.recentKeys(upToBytes: 0).isEmpty)
        // Expired entries are not listed.
        memory.setEntry(Fixture.entry(now: clock.now - 120, ttl: 60), for: Fixture.key(9))
        #expect(!memory.recentKeys(upToBytes: 1 << 20).contains(Fixture.key(9)))
    }

    @Test func sqliteKeepsTheMostRecentKeysAcrossRecordings() async throws {
        try await withSQLite { store in
            #expect(try await store.recentKeys(limit: 10).isEmpty)
            try await store.recordRecentKeys([1, 2, 3].map(Fixture.key), at: clock.now, limit: 10)
            #expect(try await store.recentKeys(limit: 10) == [1, 2, 3].map(Fixture.key))
            // A later recording (another instance, or this one a minute on) moves its keys to the front
            // and the list is cut to the limit, oldest first.
            try await store.recordRecentKeys([3, 4].map(Fixture.key), at: clock.now + 60, limit: 3)
            #expect(try await store.recentKeys(limit: 10) == [3, 4, 1].map(Fixture.key))
            #expect(try await store.recentKeys(limit: 2) == [3, 4].map(Fixture.key))
            // An older recording does not push a key back.
            try await store.recordRecentKeys([4].map(Fixture.key), at: clock.now - 600, limit: 3)
            #expect(try await store.recentKeys(limit: 10) == [3, 4, 1].map(Fixture.key))
        }
    }

    @Test func sqliteHandsOutSealedEntriesThatOpenOnlyWithTheirDigest() async throws {
        try await withSQLite { store in
            let entry = Fixture.entry(now: clock.now)
            try await store.put(Fixture.key(1), entry, sealing: .testing)
            try await store.put(Fixture.key(2), Fixture.entry(now: clock.now - 600, ttl: 60), sealing: .testing)  // expired
            let sealed = try await store.sealedEntries([1, 2, 3].map(Fixture.key))
            #expect(sealed.map(\.key) == [Fixture.key(1)])
            #expect(!String(buffer: sealed[0].value).contains("AAAAAAAA"))  // the body is not in the clear
            #expect(store.open(sealed[0], sealing: .testing) == entry)
            #expect(store.open(sealed[0], sealing: SealingDigest(Fixture.key(77))) == nil)
        }
    }

    @Test func tieredStoreOpensAPreloadedEntryOnItsFirstRequest() async throws {
        try await withSQLite { sqlite in
            let entries = (1...3).map { Fixture.entry(size: 100, now: clock.now, fill: UInt8(0x40 + $0)) }
            for (n, entry) in entries.enumerated() { try await sqlite.put(Fixture.key(n + 1), entry, sealing: .testing) }
            try await sqlite.recordRecentKeys([3, 1, 2, 9].map(Fixture.key), at: clock.now, limit: 100)

            let tiered = TieredStore(l1: MemoryStore(budget: 1 << 20, clock: clock.wallClock), l2: sqlite)
            let report = try await tiered.preload(budget: 1 << 20)
            #expect(report.requested == 4 && report.loaded == 3 && report.notStored == 1 && report.overBudget == 0)
            #expect(tiered.preloadedEntries == 3 && tiered.l1.count == 0)

            // The file goes away: what was preloaded is still answered, from memory.
            try await sqlite.close()
            #expect(try await tiered.get(Fixture.key(3), sealing: .testing) == entries[2])
            #expect(tiered.preloadedEntries == 2 && tiered.l1.entry(for: Fixture.key(3)) == entries[2])
            // A request whose digest does not open the entry gets nothing from the preload.
            await #expect(throws: (any Error).self) { try await tiered.get(Fixture.key(1), sealing: SealingDigest(Fixture.key(5))) }
            #expect(tiered.preloadedEntries == 1)
            // Removing a key drops its preloaded copy too.
            try? await tiered.remove(Fixture.key(2))
            #expect(tiered.preloadedEntries == 0 && tiered.preloadedBytes == 0)
        }
    }

    @Test func preloadStopsAtItsBudgetAndSkipsWhatMemoryHas() async throws {
        try await withSQLite { sqlite in
            for n in 1...4 { try await sqlite.put(Fixture.key(n), Fixture.entry(size: 1000, now: clock.now), sealing: .testing) }
            let tiered = TieredStore(l1: MemoryStore(budget: 1 << 20, clock: clock.wallClock), l2: sqlite)
            _ = try await tiered.get(Fixture.key(1), sealing: .testing)  // in L1 now
            let one = try await sqlite.sealedEntries([Fixture.key(2)])[0].chargedBytes
            let report = try await tiered.load([1, 2, 3, 4].map(Fixture.key), budget: one * 2)
            #expect(report.alreadyInMemory == 1 && report.loaded == 2 && report.overBudget == 1)
            #expect(tiered.preloadedBytes == one * 2)
            try await tiered.removeAll()
            #expect(tiered.preloadedEntries == 0)
        }
    }

    @Test func aStoreThatCannotPreloadLoadsNothing() async throws {
        let tiered = TieredStore(l1: MemoryStore(budget: 1 << 20, clock: clock.wallClock), l2: MemoryStore(budget: 1 << 20, clock: clock.wallClock))
        #expect(try await tiered.preload(budget: 1 << 20) == PreloadReport())
    }
}

@Suite("Preloading from real Redis", .serialized, .enabled(if: !RedisBackend.available.isEmpty))
struct RedisPreloadTests {
    @Test(arguments: RedisBackend.available)
    func recentKeysAndSealedEntries(_ backend: RedisBackend) async throws {
        let prefix = "deja-test-\(UUID().uuidString.prefix(8)):"
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(keyPrefix: prefix))
        let now = Date().timeIntervalSince1970
        let keys = (0..<3).map { _ in RedisBackend.freshKey() }
        let entry = Fixture.entry(size: 64, now: now, ttl: 60)
        try await store.put(keys[0], entry, sealing: .testing)
        try await store.put(keys[1], entry, sealing: .testing)

        try await store.recordRecentKeys(keys, at: now, limit: 10)
        #expect(try await store.recentKeys(limit: 10) == keys)
        try await store.recordRecentKeys([keys[2]], at: now + 60, limit: 2)
        #expect(try await store.recentKeys(limit: 10) == [keys[2], keys[0]])

        let sealed = try await store.sealedEntries(keys)
        #expect(Set(sealed.map(\.key)) == [keys[0], keys[1]])
        #expect(sealed.allSatisfy { store.open($0, sealing: .testing) == entry })
        #expect(sealed.allSatisfy { store.open($0, sealing: SealingDigest(keys[2])) == nil })
        _ = try await store.redis.execute(DEL([store.recentKeysKey]))
        for key in keys { try await store.remove(key) }
    }
}
