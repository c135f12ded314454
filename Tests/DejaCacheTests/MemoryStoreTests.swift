@testable import DejaCache
import DejaCore
import NIOCore
import Testing

@Suite struct MemoryStoreTests {
    let clock = ManualClock()

    /// A single-shard store with room for exactly `entries` entries of body size `size`.
    func store(entries: Int, size: Int = 16) -> MemoryStore {
        let charge = MemoryStore.charge(for: Fixture.entry(size: size))
        return MemoryStore(budget: charge * entries, shardCount: 1, clock: clock.wallClock)
    }

    @Test func storesAndReturnsEntries() {
        let store = store(entries: 4)
        let entry = Fixture.entry(now: clock.now)
        #expect(store.setEntry(entry, for: Fixture.key(1)))
        #expect(store.entry(for: Fixture.key(1)) == entry)
        #expect(store.entry(for: Fixture.key(2)) == nil)
        #expect(store.count == 1)
        #expect(store.bytesUsed == MemoryStore.charge(for: entry))
    }

    @Test func evictsLeastRecentlyUsedByBytes() {
        let store = store(entries: 3)
        for n in 1...3 { store.setEntry(Fixture.entry(now: clock.now), for: Fixture.key(n)) }
        // Reading 1 makes 2 the least recently used.
        #expect(store.entry(for: Fixture.key(1)) != nil)
        store.setEntry(Fixture.entry(now: clock.now), for: Fixture.key(4))
        #expect(store.entry(for: Fixture.key(2)) == nil)
        #expect(store.entry(for: Fixture.key(1)) != nil)
        #expect(store.entry(for: Fixture.key(3)) != nil)
        #expect(store.entry(for: Fixture.key(4)) != nil)
        #expect(store.evictions == 1)
        #expect(store.keysByRecency() == [4, 3, 1].map(Fixture.key))
    }

    @Test func aLargeEntryEvictsAsManyAsNeeded() {
        let store = store(entries: 4)
        for n in 1...4 { store.setEntry(Fixture.entry(now: clock.now), for: Fixture.key(n)) }
        let big = Fixture.entry(size: 16 + MemoryStore.charge(for: Fixture.entry()) + 1, now: clock.now)
        #expect(store.setEntry(big, for: Fixture.key(9)))
        #expect(store.keysByRecency() == [9, 4].map(Fixture.key))
        #expect(store.bytesUsed <= store.budget)
    }

    @Test func replacingAnEntryRechargesIt() {
        let store = store(entries: 4, size: 100)
        store.setEntry(Fixture.entry(size: 100, now: clock.now), for: Fixture.key(1))
        store.setEntry(Fixture.entry(size: 10, now: clock.now), for: Fixture.key(1))
        #expect(store.count == 1)
        #expect(store.bytesUsed == MemoryStore.charge(for: Fixture.entry(size: 10)))
    }

    @Test func neverExceedsTheBudget() {
        let store = MemoryStore(budget: 64 * 1024, shardCount: 16, clock: clock.wallClock)
        var generator = SystemRandomNumberGenerator()
        var stored = 0
        for n in 0..<3000 {
            let size = Int.random(in: 0...1500, using: &generator)
            if store.setEntry(Fixture.entry(size: size, now: clock.now), for: Fixture.key(n)) { stored += 1 }
            #expect(store.bytesUsed <= store.budget)
        }
        #expect(stored > 2900)  // only entries larger than a shard's 4 KiB could be refused
        #expect(store.evictions > 0)
    }

    @Test func refusesAnEntryLargerThanItsShard() {
        let store = MemoryStore(budget: 16 * 1024, shardCount: 4, clock: clock.wallClock)
        store.setEntry(Fixture.entry(size: 10, now: clock.now), for: Fixture.key(1))
        let tooBig = Fixture.entry(size: store.shardBudget, now: clock.now)
        #expect(MemoryStore.charge(for: tooBig) > store.shardBudget)
        #expect(store.setEntry(tooBig, for: Fixture.key(2)) == false)
        #expect(store.entry(for: Fixture.key(2)) == nil)
        #expect(store.entry(for: Fixture.key(1)) != nil)
        #expect(store.evictions == 0)
    }

    @Test func refusingAReplacementDropsTheOldEntry() {
        let store = MemoryStore(budget: 4096, shardCount: 1, clock: clock.wallClock)
        store.setEntry(Fixture.entry(size: 10, now: clock.now), for: Fixture.key(1))
        #expect(store.setEntry(Fixture.entry(size: 5000, now: clock.now), for: Fixture.key(1)) == false)
        #expect(store.entry(for: Fixture.key(1)) == nil)
        #expect(store.bytesUsed == 0)
    }

    @Test func keepsEntriesUntilRetainUntilAndReportsFreshness() {
        let store = store(entries: 4)
        let entry = Fixture.entry(now: clock.now, ttl: 60, extra: 30)
        store.setEntry(entry, for: Fixture.key(1))

        clock.advance(by: 59)
        let fresh = store.entry(for: Fixture.key(1))
        #expect(fresh?.isFresh(at: clock.now) == true)

        clock.advance(by: 1)  // at expiresAt: retained but stale
        let stale = store.entry(for: Fixture.key(1))
        #expect(stale != nil)
        #expect(stale?.isFresh(at: clock.now) == false)

        clock.advance(by: 29.5)
        #expect(store.entry(for: Fixture.key(1)) != nil)

        clock.advance(by: 0.5)  // at retainUntil: gone
        #expect(store.entry(for: Fixture.key(1)) == nil)
        #expect(store.count == 0)
        #expect(store.bytesUsed == 0)
    }

    @Test func doesNotStoreAnAlreadyExpiredEntry() {
        let store = store(entries: 4)
        let entry = Fixture.entry(now: clock.now - 100, ttl: 10)
        #expect(store.setEntry(entry, for: Fixture.key(1)) == false)
        #expect(store.count == 0)
    }

    @Test func purgesExpiredEntries() {
        let store = store(entries: 8)
        store.setEntry(Fixture.entry(now: clock.now, ttl: 10), for: Fixture.key(1))
        store.setEntry(Fixture.entry(now: clock.now, ttl: 100), for: Fixture.key(2))
        store.setEntry(Fixture.entry(now: clock.now, ttl: 10), for: Fixture.key(3))
        clock.advance(by: 50)
        #expect(store.purgeExpired() == 2)
        #expect(store.count == 1)
        #expect(store.entry(for: Fixture.key(2)) != nil)
    }

    @Test func removesEntries() async {
        let store = store(entries: 4)
        for n in 1...3 { await store.put(Fixture.key(n), Fixture.entry(now: clock.now), sealing: .testing) }
        await store.remove(Fixture.key(2))
        #expect(await store.get(Fixture.key(2), sealing: .testing) == nil)
        #expect(await store.get(Fixture.key(1), sealing: .testing) != nil)
        await store.removeAll()
        #expect(store.count == 0)
        #expect(store.bytesUsed == 0)
        // Slots are reusable after removal.
        await store.put(Fixture.key(5), Fixture.entry(now: clock.now), sealing: .testing)
        #expect(await store.get(Fixture.key(5), sealing: .testing) != nil)
    }

    @Test func staysConsistentUnderConcurrentUse() async {
        let store = MemoryStore(budget: 256 * 1024, clock: clock.wallClock)
        let now = clock.now
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for n in 0..<2000 {
                        let key = Fixture.key((worker * 7919 + n) % 1500)
                        if n % 3 == 0 {
                            store.setEntry(Fixture.entry(size: n % 700, now: now), for: key)
                        } else if n % 11 == 0 {
                            store.removeEntry(for: key)
                        } else {
                            _ = store.entry(for: key)
                        }
                    }
                }
            }
        }
        #expect(store.bytesUsed <= store.budget)
        // Every entry still held is readable and charged exactly.
        var charged = 0
        for n in 0..<1500 {
            if let entry = store.entry(for: Fixture.key(n)) { charged += MemoryStore.charge(for: entry) }
        }
        #expect(charged == store.bytesUsed)
    }
}
