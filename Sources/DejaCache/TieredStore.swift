import DejaCore
import Synchronization

/// A ``MemoryStore`` (L1) in front of a slower, larger or shared store (L2).
///
/// L1 keeps entries in the clear (the process holds them anyway to answer); L2 seals them.
///
/// Reads try L1, then the entries preloaded from L2 and still sealed (``preload(budget:limit:)``), then L2,
/// promoting what they find into L1. Writes to a shared L2 (Redis) go first, so an answer other
/// instances wait for is there before it is served from memory, then to L1; when L2 fails, L1 is still
/// updated (so the process keeps serving what it has) and the L2 error is rethrown for the caller to log.
/// Writes to a ``SQLiteStore`` (this process's own) go to L1 and are queued behind
/// (``SQLiteStore/putBehind(_:_:sealing:)``): in order, before any later removal, logged when they fail.
public final class TieredStore: CacheStore {
    /// The in-memory tier.
    public let l1: MemoryStore
    /// The tier behind it.
    public let l2: any CacheStore

    /// L2 when it is this process's SQLite file, whose writes are queued behind the answer.
    private let local: SQLiteStore?
    /// L2 as a source of sealed entries, when it is one.
    private let source: (any PreloadSource)?
    /// Entries read from L2 before any request asked for them, still sealed: each is opened by the first
    /// request for its key (which brings the digest) and moves into L1.
    private let preloaded = Mutex(Preloaded())
    /// How many entries `preloaded` holds, read without its lock so a read finds it empty for free.
    private let preloadedCount = Atomic<Int>(0)

    struct Preloaded {
        var entries: [CacheKey: SealedEntry] = [:]
        var bytes = 0
    }

    /// Creates a store that reads `l1` before `l2`; `writeBehind` queues writes to a SQLite `l2`
    /// behind the caller instead of waiting for them.
    public init(l1: MemoryStore, l2: any CacheStore, writeBehind: Bool = true) {
        self.l1 = l1
        self.l2 = l2
        self.source = l2 as? any PreloadSource
        self.local = writeBehind ? l2 as? SQLiteStore : nil
    }

    /// The L1 entry for `key`, without touching L2; the synchronous hit fast path.
    @inlinable
    public func l1Entry(for key: CacheKey) -> CacheEntry? { l1.entry(for: key) }

    /// The entry from L1, else from L2 (then promoted into L1). Throws what L2 throws.
    public func get(_ key: CacheKey, sealing: SealingDigest) async throws -> CacheEntry? {
        if let entry = l1.entry(for: key) { return entry }
        if let entry = openPreloaded(key, sealing: sealing) { return entry }
        guard let entry = try await l2.get(key, sealing: sealing) else { return nil }
        l1.setEntry(entry, for: key)
        return entry
    }

    /// Writes to L2, then L1; L1 is written even when L2 throws, and the L2 error is rethrown. A SQLite
    /// L2 is written behind: L1 first, then the write queued.
    public func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws {
        if let local {
            l1.setEntry(entry, for: key)
            await local.putBehind(key, entry, sealing: sealing)
            return
        }
        defer { l1.setEntry(entry, for: key) }
        try await l2.put(key, entry, sealing: sealing)
    }

    /// Removes from L2, then L1; L1 is cleared even when L2 throws, and the L2 error is rethrown.
    public func remove(_ key: CacheKey) async throws {
        defer {
            l1.removeEntry(for: key)
            dropPreloaded(key)
        }
        try await l2.remove(key)
    }

    /// Clears L2, then L1; L1 is cleared even when L2 throws, and the L2 error is rethrown.
    public func removeAll() async throws {
        defer {
            l1.removeAllEntries()
            dropAllPreloaded()
        }
        try await l2.removeAll()
    }

    // MARK: Preloading

    /// Loads, sealed, the entries L2 remembers as most recently used, most recent first, until their
    /// bytes reach `budget`; at most `limit` keys are considered. Does nothing when L2 cannot preload.
    public func preload(budget: Int, limit: Int = 100_000) async throws -> PreloadReport {
        guard let source, budget > 0 else { return PreloadReport() }
        let keys = try await source.recentKeys(limit: limit)
        return try await load(keys, budget: budget)
    }

    /// Loads, sealed, the entries stored under `keys` in that order, until the preloaded bytes reach
    /// `budget`; keys answered from L1 or already preloaded are counted and skipped.
    public func load(_ keys: [CacheKey], budget: Int, batch: Int = 256) async throws -> PreloadReport {
        var report = PreloadReport()
        report.requested = keys.count
        guard let source else { return report }
        var remaining = keys[...]
        while !remaining.isEmpty {
            let chunk = Array(remaining.prefix(batch))
            remaining = remaining.dropFirst(batch)
            var wanted: [CacheKey] = []
            for key in chunk {
                if l1.contains(key) || preloadedCount.load(ordering: .relaxed) > 0 && isPreloaded(key) {
                    report.alreadyInMemory += 1
                } else {
                    wanted.append(key)
                }
            }
            let found = try await source.sealedEntries(wanted)
            report.notStored += wanted.count - found.count
            let full = preloaded.withLock { state -> Bool in
                for entry in found {
                    guard state.bytes + entry.chargedBytes <= budget else {
                        report.overBudget += 1
                        continue
                    }
                    if let previous = state.entries.updateValue(entry, forKey: entry.key) {
                        state.bytes -= previous.chargedBytes
                    }
                    state.bytes += entry.chargedBytes
                    report.loaded += 1
                    report.bytes += entry.chargedBytes
                }
                preloadedCount.store(state.entries.count, ordering: .relaxed)
                return state.bytes >= budget
            }
            if full {
                report.overBudget += remaining.count
                break
            }
        }
        return report
    }

    /// Records in L2 the keys L1 used most recently, up to `bytes` worth of entries (``PreloadSource``);
    /// what ``preload(budget:limit:)`` reads back on the next start. Does nothing when L2 cannot preload.
    public func recordRecentKeys(upToBytes bytes: Int, limit: Int) async throws {
        guard let source else { return }
        let keys = l1.recentKeys(upToBytes: bytes)
        guard !keys.isEmpty else { return }
        try await source.recordRecentKeys(keys, at: l1.clockNow, limit: limit)
    }

    /// Entries held sealed, waiting for their first request.
    public var preloadedEntries: Int { preloadedCount.load(ordering: .relaxed) }

    /// Bytes held by entries waiting for their first request.
    public var preloadedBytes: Int { preloaded.withLock { $0.bytes } }

    /// Drops every preloaded entry (a purge: they are copies of L2, which is the truth).
    public func dropAllPreloaded() {
        guard preloadedCount.load(ordering: .relaxed) > 0 else { return }
        preloaded.withLock { state in
            state = Preloaded()
            preloadedCount.store(0, ordering: .relaxed)
        }
    }

    private func isPreloaded(_ key: CacheKey) -> Bool {
        preloaded.withLock { $0.entries[key] != nil }
    }

    private func dropPreloaded(_ key: CacheKey) {
        guard preloadedCount.load(ordering: .relaxed) > 0 else { return }
        preloaded.withLock { state in
            if let entry = state.entries.removeValue(forKey: key) { state.bytes -= entry.chargedBytes }
            preloadedCount.store(state.entries.count, ordering: .relaxed)
        }
    }

    /// The preloaded entry for `key`, opened with `sealing` and moved into L1; `nil` when there is none,
    /// it does not open, or it is no longer retained (then L2 is asked as usual).
    private func openPreloaded(_ key: CacheKey, sealing: SealingDigest) -> CacheEntry? {
        guard preloadedCount.load(ordering: .relaxed) > 0, let source else { return nil }
        let sealed = preloaded.withLock { state -> SealedEntry? in
            guard let entry = state.entries.removeValue(forKey: key) else { return nil }
            state.bytes -= entry.chargedBytes
            preloadedCount.store(state.entries.count, ordering: .relaxed)
            return entry
        }
        guard let sealed, let entry = source.open(sealed, sealing: sealing), l1.clockNow < entry.retainUntil else { return nil }
        l1.setEntry(entry, for: key)
        return entry
    }
}
