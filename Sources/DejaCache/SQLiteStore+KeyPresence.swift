import DejaCore
import SQLiteNIO
import Synchronization

/// Which keys the file holds, known in memory, so that a miss does not ask SQLite.
///
/// Every request the memory tier cannot answer used to read the SQLite file: a trip to the SQLite thread
/// pool and back, the most expensive part of a miss's lookup, and on a new key always for nothing. A
/// store opened with `tracksKeys` (the gateway's own file, which no other process writes) keeps 64
/// bits of every stored key in a set and answers a key that is not in it as absent without
/// asking SQLite.
///
/// The set may name keys the file no longer holds (a read then finds nothing, as before), but never
/// misses one it holds — that would bill a repeat as a miss:
/// - it is read from the file in the background after opening, and until that read is done every lookup
///   asks SQLite;
/// - a key enters the set before its row is written (``SQLiteStore/put(_:_:sealing:)``, and when queued
///   behind a response);
/// - a key leaves the set only after the statement that deleted its row, and not when it was stored again
///   while that statement ran: each deletion is announced before it starts (before it waits for queued
///   writes), and the keys stored from then on are kept.
///
/// Two keys share an entry only when their folded 64 bits agree (for n keys, about n²/2^65 pairs: none in
/// practice); deleting one then hides the other until it is stored again, which costs one model call. Past ``KeyPresence/defaultLimit`` keys the set is
/// dropped and every lookup asks SQLite again, as a store without `tracksKeys` does.
struct KeyPresence {
    enum State {
        /// Not kept: every lookup asks SQLite.
        case off
        /// Being read from the file: lookups ask SQLite; stores and deletions are already noted.
        case loading
        /// Complete: a key not in the set is not in the file.
        case ready
    }

    /// Keys kept at most by default (about 16 bytes of memory each).
    static let defaultLimit = 4_000_000

    var state: State
    /// Keys kept at most: past it the set is dropped.
    let limit: Int
    var prefixes = Set<UInt64>()
    /// Deletions under way.
    var deleting = 0
    /// Keys stored while a deletion was under way: they stay in the set when that deletion ends.
    var storedWhileDeleting = Set<UInt64>()

    init(tracking: Bool, limit: Int = Self.defaultLimit) {
        state = tracking ? .loading : .off
        self.limit = limit
    }

    /// The 64 bits kept for `key`: its four 8-byte words folded together by XOR (content keys are
    /// SHA-256 digests, so any 64 of their bits would do; folding keeps keys that differ in one word apart).
    static func prefix(_ key: CacheKey) -> UInt64 {
        prefix(ofBlob: key.bytes)
    }

    static func prefix(ofBlob bytes: some Collection<UInt8>) -> UInt64 {
        var folded: UInt64 = 0, word: UInt64 = 0, count = 0
        for byte in bytes {
            word = word << 8 | UInt64(byte)
            count += 1
            if count % 8 == 0 {
                folded ^= word
                word = 0
            }
        }
        return folded ^ word
    }

    /// Whether the file may hold `key`: false only when the set is complete and `key` is not in it.
    func mayHold(_ key: CacheKey) -> Bool {
        state != .ready || prefixes.contains(Self.prefix(key))
    }

    /// Notes `key` before its row is written.
    mutating func stored(_ key: CacheKey) {
        guard state != .off else { return }
        let prefix = Self.prefix(key)
        prefixes.insert(prefix)
        if deleting > 0 { storedWhileDeleting.insert(prefix) }
        if prefixes.count > limit { turnOff() }
    }

    /// Adds what the background read of the file found.
    mutating func loaded(_ found: Set<UInt64>) {
        guard state == .loading else { return }
        prefixes.formUnion(found)
        if prefixes.count > limit { turnOff() } else { state = .ready }
    }

    /// Notes that a deletion starts: call before it waits for queued writes or reads the rows it deletes.
    mutating func deletionStarts() {
        deleting += 1
    }

    /// Notes that the deletion ended, having deleted `deleted` (nil: every row); keys stored meanwhile stay.
    mutating func deletionEnded(deleted: [UInt64]?) {
        if state != .off {
            if let deleted {
                for prefix in deleted where !storedWhileDeleting.contains(prefix) { prefixes.remove(prefix) }
            } else {
                prefixes = prefixes.intersection(storedWhileDeleting)
            }
        }
        deleting -= 1
        if deleting == 0 { storedWhileDeleting.removeAll() }
    }

    /// Stops keeping keys (a statement the store cannot follow changed the file, or too many keys).
    mutating func turnOff() {
        state = .off
        prefixes = []
        storedWhileDeleting = []
    }
}

extension SQLiteStore {
    /// Returns once the keys read from the file at opening are known (at once when the store does not keep them).
    public func keysLoaded() async {
        await keysLoading.withLock { $0 }?.value
    }

    /// Reads every key in the file into ``KeyPresence``; until it is done, lookups ask SQLite.
    func loadKeys() async {
        let found = KeysFound()
        do {
            try await connection.query("SELECT key FROM cache_entries", []) { row in
                guard let blob = row.column("key")?.blob else { return }
                found.add(KeyPresence.prefix(ofBlob: blob.readableBytesView))
            }
            presence.withLock { $0.loaded(found.take()) }
        } catch {
            logger.warning("could not read the SQLite cache's keys; every lookup asks the file", metadata: ["deja.error": "\(error)"])
            presence.withLock { $0.turnOff() }
        }
    }

    /// Runs a deletion that returns the prefixes of the keys it deleted (nil: every row), keeping
    /// ``KeyPresence`` exact around it.
    func deleting<T>(_ body: () async throws(CacheStoreError) -> (T, deleted: [UInt64]?)) async throws(CacheStoreError) -> T {
        presence.withLock { $0.deletionStarts() }
        do {
            let (result, deleted) = try await body()
            presence.withLock { $0.deletionEnded(deleted: deleted) }
            return result
        } catch {
            // What the failed statement deleted is unknown: every key stays (a later read finds nothing).
            presence.withLock { $0.deletionEnded(deleted: []) }
            throw error
        }
    }

    /// The prefixes of the `key` column of `rows` (a `RETURNING key`).
    static func prefixes(_ rows: [SQLiteRow]) -> [UInt64] {
        rows.compactMap { $0.column("key")?.blob.map { KeyPresence.prefix(ofBlob: $0.readableBytesView) } }
    }
}

/// The keys the background read finds, collected on the SQLite thread.
private final class KeysFound: Sendable {
    private let found = Mutex(Set<UInt64>())

    func add(_ prefix: UInt64) { found.withLock { _ = $0.insert(prefix) } }
    func take() -> Set<UInt64> { found.withLock { $0 } }
}
