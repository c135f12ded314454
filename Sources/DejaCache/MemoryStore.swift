import DejaCore
import Synchronization

/// An in-memory LRU cache bounded by bytes, with per-entry retention read from a ``DejaCore/WallClock``.
///
/// The key space is split over shards, each an O(1) LRU behind its own mutex, so concurrent requests rarely
/// contend. Each shard gets `budget / shardCount` bytes; an entry is charged `chargedBytes + keyOverhead`
/// and is not stored when that exceeds its shard's budget. The budget is never exceeded, not even during a
/// put: least recently used entries are evicted before the new one goes in.
///
/// The synchronous methods (``entry(for:)``, ``setEntry(_:for:)``) are the hit fast path; the
/// ``CacheStore`` methods wrap them. All methods are safe to call from any thread.
public final class MemoryStore: CacheStore {
    /// Bytes charged per entry on top of `CacheEntry.chargedBytes`: key, index slot and list links.
    public static let keyOverhead = 96

    /// The byte budget over all shards.
    public let budget: Int
    /// How many independently locked shards the keys are spread over.
    public let shardCount: Int

    private let shards: [Shard]
    private let clock: WallClock

    private final class Shard: Sendable {
        let state: Mutex<LRUShard>
        init(budget: Int) { state = Mutex(LRUShard(budget: budget)) }
    }

    /// Creates an empty store holding at most `budget` bytes over `shardCount` shards (at least 1).
    ///
    /// Use one shard when exact, global LRU order matters more than lock contention (e.g. small budgets).
    public init(budget: Int, shardCount: Int = 16, clock: WallClock = .system) {
        let shardCount = max(1, shardCount)
        self.budget = max(0, budget)
        self.shardCount = shardCount
        self.clock = clock
        let perShard = self.budget / shardCount
        shards = (0..<shardCount).map { _ in Shard(budget: perShard) }
    }

    /// The largest entry charge (``charge(for:)``) that can be stored.
    public var shardBudget: Int { budget / shardCount }

    /// What `entry` is charged against the budget.
    @inlinable
    public static func charge(for entry: CacheEntry) -> Int { entry.chargedBytes + keyOverhead }

    @inline(__always)
    private func shard(for key: CacheKey) -> Shard {
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shardCount))]
    }

    /// The entry for `key` while retained, fresh or not, marking it most recently used; `nil` otherwise.
    public func entry(for key: CacheKey) -> CacheEntry? {
        let now = clock.now()
        return shard(for: key).state.withLock { $0.get(key, now: now) }
    }

    /// Whether an entry for `key` is held and retained, without marking it used.
    public func contains(_ key: CacheKey) -> Bool {
        let now = clock.now()
        return shard(for: key).state.withLock { $0.peek(key, now: now) }
    }

    /// The time by the store's clock.
    var clockNow: Double { clock.now() }

    /// Stores `entry` under `key`, replacing any previous entry; returns whether it was stored.
    ///
    /// Not stored (and any previous entry removed) when it is already past `retainUntil` or its charge
    /// exceeds ``shardBudget``.
    @discardableResult
    public func setEntry(_ entry: CacheEntry, for key: CacheKey) -> Bool {
        let now = clock.now()
        let charged = Self.charge(for: entry)
        return shard(for: key).state.withLock { $0.put(key, entry, charged: charged, now: now) }
    }

    /// Removes the entry for `key`; returns whether there was one.
    @discardableResult
    public func removeEntry(for key: CacheKey) -> Bool {
        shard(for: key).state.withLock { $0.remove(key) }
    }

    /// Removes every entry.
    public func removeAllEntries() {
        for shard in shards { shard.state.withLock { $0.removeAll() } }
    }

    /// Drops every entry past its `retainUntil`; returns how many. Expired entries are also dropped lazily
    /// when read or evicted, so calling this is optional; it visits every entry.
    @discardableResult
    public func purgeExpired() -> Int {
        let now = clock.now()
        return shards.reduce(0) { total, shard in total + shard.state.withLock { $0.purgeExpired(now: now) } }
    }

    /// Removes every entry `filter` matches; returns how many.
    ///
    /// Visits each shard in chunks of ``purgeChunk`` slots, taking the shard's lock once per chunk, so
    /// requests on the same shard wait for at most one chunk. An entry stored meanwhile may or may not
    /// be visited.
    @discardableResult
    public func removeEntries(matching filter: PurgeFilter) -> Int {
        guard !filter.isEmpty else { return 0 }
        if let key = filter.key {
            return shard(for: key).state.withLock { shard in
                guard let entry = shard.get(key, now: -Double.infinity), filter.matches(key, entry) else { return 0 }
                return shard.remove(key) ? 1 : 0
            }
        }
        var removed = 0
        for shard in shards {
            var next: Int? = 0
            while let start = next {
                let chunk = shard.state.withLock { $0.remove(matching: filter, from: start, limit: Self.purgeChunk) }
                removed += chunk.removed
                next = chunk.next
            }
        }
        return removed
    }

    /// Slots a purge visits per lock hold.
    static let purgeChunk = 4096

    /// The charge (``charge(for:)``) of every entry held, grouped by task (`""` for entries whose task is
    /// unknown); for capacity reports. Takes each shard's lock once, for one pass over its entries.
    public func chargesByTask() -> [String: [Int]] {
        var charges: [String: [Int]] = [:]
        for shard in shards {
            shard.state.withLock { state in
                state.forEachEntry { entry, charged in charges[entry.task, default: []].append(charged) }
            }
        }
        return charges
    }

    /// Bytes currently charged against ``budget``.
    public var bytesUsed: Int { shards.reduce(0) { $0 + $1.state.withLock { $0.bytesUsed } } }

    /// Entries currently held (expired ones count until they are dropped).
    public var count: Int { shards.reduce(0) { $0 + $1.state.withLock { $0.count } } }

    /// Entries evicted to make room since the store was created.
    public var evictions: Int { shards.reduce(0) { $0 + $1.state.withLock { $0.evictions } } }

    /// The most recently used keys, most recent first, whose entries together are charged at most `bytes`.
    ///
    /// Each shard gives its most recent keys up to its share of `bytes`, under its own lock for one walk of
    /// its list; the shards' lists are interleaved by rank, so the result approximates recency across the
    /// whole store. What ``TieredStore/preload(budget:)`` on the next start reads back.
    public func recentKeys(upToBytes bytes: Int) -> [CacheKey] {
        guard bytes > 0 else { return [] }
        let now = clock.now()
        let share = bytes / shardCount
        let lists = shards.map { shard in shard.state.withLock { $0.recentKeys(upToBytes: share, now: now) } }
        var keys: [CacheKey] = []
        keys.reserveCapacity(lists.reduce(0) { $0 + $1.count })
        let longest = lists.map(\.count).max() ?? 0
        for rank in 0..<longest {
            for list in lists where rank < list.count { keys.append(list[rank].key) }
        }
        return keys
    }

    /// Keys of shard `shard` from most to least recently used; for tests.
    func keysByRecency(shard: Int = 0) -> [CacheKey] {
        shards[shard].state.withLock { $0.keysByRecency }
    }

    // MARK: CacheStore

    /// ``entry(for:)`` for callers holding an `any CacheStore`; never throws. Memory is not sealed.
    public func get(_ key: CacheKey, sealing: SealingDigest) async -> CacheEntry? { entry(for: key) }

    /// ``setEntry(_:for:)`` for callers holding an `any CacheStore`; never throws. Memory is not sealed.
    public func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async { setEntry(entry, for: key) }

    /// ``removeEntry(for:)`` for callers holding an `any CacheStore`; never throws.
    public func remove(_ key: CacheKey) async { removeEntry(for: key) }

    /// ``removeAllEntries()`` for callers holding an `any CacheStore`; never throws.
    public func removeAll() async { removeAllEntries() }
}
