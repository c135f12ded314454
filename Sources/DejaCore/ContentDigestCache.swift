import Synchronization

/// Remembers which raw file resolved to which content digest, so that an image is decoded once per
/// distinct byte sequence and a byte-identical repeat costs one SHA-256 pass.
///
/// ``Canonicalizer`` calls it synchronously from whatever thread canonicalises, so implementations must
/// be thread-safe and fast (an in-memory map, or a local tier of the cache store). The raw key is
/// ``ContentDigest/rawKey(of:scope:)``: SHA-256 over a scheme-versioned tag, the scope and the bytes, so entries
/// written under an older scheme are never consulted. Only PNG and JPEG files are looked up and stored.
public protocol ContentDigestCache: Sendable {
    /// The content digest remembered for the file whose raw key is `raw`, or `nil` if unknown.
    func contentDigest(forRaw raw: CacheKey) -> ContentDigest?
    /// Records that the file whose raw key is `raw` has content digest `content`.
    func remember(raw: CacheKey, content: ContentDigest)
}

/// A bounded in-memory ``ContentDigestCache``: forgets everything when it holds `capacity` entries.
///
/// For tests and single-process use; thread-safe.
public final class InMemoryContentDigestCache: ContentDigestCache {
    private struct State {
        var entries: [CacheKey: ContentDigest] = [:]
        var lookups = 0
        var hits = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    /// Creates an empty cache holding at most `capacity` entries (at least one).
    public init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    public func contentDigest(forRaw raw: CacheKey) -> ContentDigest? {
        state.withLock { state in
            state.lookups += 1
            let found = state.entries[raw]
            if found != nil { state.hits += 1 }
            return found
        }
    }

    public func remember(raw: CacheKey, content: ContentDigest) {
        state.withLock { state in
            if state.entries.count >= capacity, state.entries[raw] == nil { state.entries.removeAll(keepingCapacity: true) }
            state.entries[raw] = content
        }
    }

    /// Entries held now.
    public var count: Int { state.withLock { $0.entries.count } }
    /// Lookups so far, and how many found an entry.
    public var statistics: (lookups: Int, hits: Int) { state.withLock { ($0.lookups, $0.hits) } }
}
