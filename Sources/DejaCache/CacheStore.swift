import DejaCore

/// A place that keeps cached answers by ``CacheKey``.
///
/// Stores are shared by every request in flight, so every method may be called concurrently.
/// A store returns an entry until its `retainUntil`; whether it is still fresh (`isFresh(at:)`) is the
/// caller's decision, so that a stale answer can be served when the upstream fails.
///
/// A store that keeps entries outside the process (a file, Redis) seals each with an ``EntrySealer``
/// under the request's ``DejaCore/SealingDigest``, which is stored nowhere: reading an entry needs the
/// request it answers. The in-memory store keeps entries as they are and ignores the digest.
public protocol CacheStore: Sendable {
    /// The entry stored under `key` while it is retained (`now < retainUntil`), fresh or not; `nil`
    /// otherwise, or when it does not open with `sealing` and the configured secrets.
    func get(_ key: CacheKey, sealing: SealingDigest) async throws -> CacheEntry?
    /// Stores `entry` under `key`, sealed with `sealing`, replacing any previous entry. An entry already
    /// past `retainUntil` is not stored.
    func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws
    /// Removes the entry under `key`, if any.
    func remove(_ key: CacheKey) async throws
    /// Removes every entry.
    func removeAll() async throws
}
