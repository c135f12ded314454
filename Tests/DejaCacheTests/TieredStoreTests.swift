import DejaCache
import DejaCore
import NIOCore
import Synchronization
import Testing

/// An L2 that counts calls and can be made to fail.
final class RecordingStore: CacheStore {
    struct Failure: Error {}

    private let inner: MemoryStore
    let gets = Mutex(0)
    let failing = Mutex(false)

    init(clock: WallClock) { inner = MemoryStore(budget: 1 << 20, shardCount: 1, clock: clock) }

    func get(_ key: CacheKey, sealing: SealingDigest) async throws -> CacheEntry? {
        gets.withLock { $0 += 1 }
        try check()
        return inner.entry(for: key)
    }

    func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws {
        try check()
        inner.setEntry(entry, for: key)
    }

    func remove(_ key: CacheKey) async throws {
        try check()
        inner.removeEntry(for: key)
    }

    func removeAll() async throws {
        try check()
        inner.removeAllEntries()
    }

    func peek(_ key: CacheKey) -> CacheEntry? { inner.entry(for: key) }

    private func check() throws { if failing.withLock({ $0 }) { throw Failure() } }
}

@Suite struct TieredStoreTests {
    let clock = ManualClock()

    func makeStore() -> (TieredStore, RecordingStore) {
        let l2 = RecordingStore(clock: clock.wallClock)
        let l1 = MemoryStore(budget: 1 << 20, shardCount: 1, clock: clock.wallClock)
        return (TieredStore(l1: l1, l2: l2), l2)
    }

    @Test func anL2HitIsPromotedIntoL1() async throws {
        let (store, l2) = makeStore()
        let entry = Fixture.entry(now: clock.now)
        try await l2.put(Fixture.key(1), entry, sealing: .testing)
        #expect(store.l1Entry(for: Fixture.key(1)) == nil)

        #expect(try await store.get(Fixture.key(1), sealing: .testing) == entry)
        #expect(store.l1Entry(for: Fixture.key(1)) == entry)
        #expect(l2.gets.withLock { $0 } == 1)

        #expect(try await store.get(Fixture.key(1), sealing: .testing) == entry)
        #expect(l2.gets.withLock { $0 } == 1)  // served by L1
    }

    @Test func aMissInBothIsNil() async throws {
        let (store, l2) = makeStore()
        #expect(try await store.get(Fixture.key(1), sealing: .testing) == nil)
        #expect(l2.gets.withLock { $0 } == 1)
    }

    @Test func putWritesBothTiers() async throws {
        let (store, l2) = makeStore()
        let entry = Fixture.entry(now: clock.now)
        try await store.put(Fixture.key(1), entry, sealing: .testing)
        #expect(store.l1Entry(for: Fixture.key(1)) == entry)
        #expect(l2.peek(Fixture.key(1)) == entry)
    }

    @Test func removeClearsBothTiers() async throws {
        let (store, l2) = makeStore()
        for n in 1...3 { try await store.put(Fixture.key(n), Fixture.entry(now: clock.now), sealing: .testing) }
        try await store.remove(Fixture.key(1))
        #expect(store.l1Entry(for: Fixture.key(1)) == nil)
        #expect(l2.peek(Fixture.key(1)) == nil)
        #expect(try await store.get(Fixture.key(1), sealing: .testing) == nil)

        try await store.removeAll()
        #expect(store.l1.count == 0)
        #expect(l2.peek(Fixture.key(2)) == nil)
        #expect(try await store.get(Fixture.key(3), sealing: .testing) == nil)
    }

    @Test func anL2FailureStillUpdatesL1AndIsReported() async throws {
        let (store, l2) = makeStore()
        l2.failing.withLock { $0 = true }
        let entry = Fixture.entry(now: clock.now)
        await #expect(throws: RecordingStore.Failure.self) { try await store.put(Fixture.key(1), entry, sealing: .testing) }
        #expect(store.l1Entry(for: Fixture.key(1)) == entry)
        #expect(try await store.get(Fixture.key(1), sealing: .testing) == entry)  // an L1 hit never touches L2

        await #expect(throws: RecordingStore.Failure.self) { try await store.remove(Fixture.key(1)) }
        #expect(store.l1Entry(for: Fixture.key(1)) == nil)
        await #expect(throws: RecordingStore.Failure.self) { try await store.get(Fixture.key(1), sealing: .testing) }
    }

    @Test func worksOverSQLite() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let path = directory.appendingPathComponent("cache.sqlite").path
        let entry = Fixture.entry(now: clock.now)

        let sqlite = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
        let first = TieredStore(l1: MemoryStore(budget: 1 << 20, clock: clock.wallClock), l2: sqlite)
        try await first.put(Fixture.key(1), entry, sealing: .testing)
        try await sqlite.close()

        // A restarted process starts with an empty L1 and refills it from the file.
        let reopened = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
        let second = TieredStore(l1: MemoryStore(budget: 1 << 20, clock: clock.wallClock), l2: reopened)
        #expect(second.l1Entry(for: Fixture.key(1)) == nil)
        #expect(try await second.get(Fixture.key(1), sealing: .testing) == entry)
        #expect(second.l1Entry(for: Fixture.key(1)) == entry)
        try await reopened.close()
    }
}
