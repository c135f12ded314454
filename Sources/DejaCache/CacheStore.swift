import DejaCore

/// A place that keeps cached answers by ``CacheKey``.
///
/// Stores are shared by every request in flight, so every method may be called concurrently.
/// A store returns an entry until its `retainUntil`; whether it is still fresh (`isFresh(at:)`) is the
/// caller's decision, so that a stale answer can be served when the upstream fails.
public protocol CacheStore: Sendable {
    /// The entry stored under `key` while it is retained (`now < retainUntil`), fresh or not; `nil` otherwise.
    func get(_ key: CacheKey) async throws -> CacheEntry?
    /// Stores `entry` under `key`, replacing any previous entry. An entry already past `retainUntil` is not stored.
    func put(_ key: CacheKey, _ entry: CacheEntry) async throws
    /// Removes the entry under `key`, if any.
    func remove(_ key: CacheKey) async throws
    /// Removes every entry.
    func removeAll() async throws
}
