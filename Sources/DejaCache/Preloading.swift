import DejaCore
import NIOCore

/// An entry as a persistent store keeps it: still sealed, readable only with its request's
/// ``DejaCore/SealingDigest``.
///
/// What a store hands out for preloading memory at start, when no request (and so no digest) is at hand:
/// the memory tier keeps it sealed until the first request for its key arrives and opens it.
public struct SealedEntry: Sendable {
    /// The entry's content key.
    public var key: CacheKey
    /// The stored bytes, in the store's own format.
    public var value: ByteBuffer
    /// Until when the store keeps it, seconds since 1970.
    public var retainUntil: Double

    public init(key: CacheKey, value: ByteBuffer, retainUntil: Double) {
        self.key = key
        self.value = value
        self.retainUntil = retainUntil
    }

    /// Bytes this sealed copy holds, key included.
    public var chargedBytes: Int { value.readableBytes + 32 + 64 }
}

/// A persistent store that can warm a memory tier: it remembers which keys instances used most recently,
/// hands out entries still sealed, and opens them later with their request's digest.
///
/// The list of recent keys is shared by every instance on the same store (Redis) or by every run on the
/// same file (SQLite), so a restarted or new instance loads what was hot before it started. Keys are
/// digests: the list reveals which answers were used, never what they say or who asked.
public protocol PreloadSource: CacheStore {
    /// Remembers `keys` (most recent first) as used at `time`, keeping at most `limit` keys in all.
    func recordRecentKeys(_ keys: [CacheKey], at time: Double, limit: Int) async throws
    /// The remembered keys, most recently used first, at most `limit`.
    func recentKeys(limit: Int) async throws -> [CacheKey]
    /// The stored entries among `keys` that are still retained, sealed; absent keys are left out.
    func sealedEntries(_ keys: [CacheKey]) async throws -> [SealedEntry]
    /// Opens a sealed entry with its request's digest; `nil` when it does not open or cannot be read.
    func open(_ sealed: SealedEntry, sealing: SealingDigest) -> CacheEntry?
}

/// What a preload put into memory.
public struct PreloadReport: Sendable, Equatable {
    /// Keys asked for (remembered as recent, or named by the caller).
    public var requested = 0
    /// Entries now held sealed in memory.
    public var loaded = 0
    /// Bytes those entries hold.
    public var bytes = 0
    /// Keys already answered from memory (nothing to do).
    public var alreadyInMemory = 0
    /// Keys whose entries are no longer stored (expired or purged).
    public var notStored = 0
    /// Keys left out because the byte budget was spent.
    public var overBudget = 0

    public init() {}
}
