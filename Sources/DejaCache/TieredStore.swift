import DejaCore

/// A ``MemoryStore`` (L1) in front of a slower, larger or shared store (L2).
///
/// L1 keeps entries in the clear (the process holds them anyway to answer); L2 seals them.
///
/// Reads try L1, then L2, promoting an L2 hit into L1. Writes go to L2 first, so a stored answer is durable
/// before it is served from memory, then to L1. When L2 fails, L1 is still updated (so the process keeps
/// serving what it has) and the L2 error is rethrown for the caller to log.
public final class TieredStore: CacheStore {
    /// The in-memory tier.
    public let l1: MemoryStore
    /// The tier behind it.
    public let l2: any CacheStore

    /// Creates a store that reads `l1` before `l2`.
    public init(l1: MemoryStore, l2: any CacheStore) {
        self.l1 = l1
        self.l2 = l2
    }

    /// The L1 entry for `key`, without touching L2; the synchronous hit fast path.
    @inlinable
    public func l1Entry(for key: CacheKey) -> CacheEntry? { l1.entry(for: key) }

    /// The entry from L1, else from L2 (then promoted into L1). Throws what L2 throws.
    public func get(_ key: CacheKey, sealing: SealingDigest) async throws -> CacheEntry? {
        if let entry = l1.entry(for: key) { return entry }
        guard let entry = try await l2.get(key, sealing: sealing) else { return nil }
        l1.setEntry(entry, for: key)
        return entry
    }

    /// Writes to L2, then L1; L1 is written even when L2 throws, and the L2 error is rethrown.
    public func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws {
        defer { l1.setEntry(entry, for: key) }
        try await l2.put(key, entry, sealing: sealing)
    }

    /// Removes from L2, then L1; L1 is cleared even when L2 throws, and the L2 error is rethrown.
    public func remove(_ key: CacheKey) async throws {
        defer { l1.removeEntry(for: key) }
        try await l2.remove(key)
    }

    /// Clears L2, then L1; L1 is cleared even when L2 throws, and the L2 error is rethrown.
    public func removeAll() async throws {
        defer { l1.removeAllEntries() }
        try await l2.removeAll()
    }
}
