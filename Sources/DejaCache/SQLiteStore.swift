import DejaCore
import Logging
import NIOCore
import SQLiteNIO
import Synchronization

/// A persistent cache in one SQLite file, so a restart keeps every answer.
///
/// Entries are kept in their ``DejaCore/CacheEntry/encoded()`` form, sealed by an ``EntrySealer`` (so
/// the file reveals no answer without its request), with their retain-until time and, for purges and
/// capacity reports, their task, model version, scope tag, creation time and stored size in the clear
/// (no tenant name: the scope tag is a digest). Files from before these columns are migrated when
/// opened; their old rows have the columns empty and match only purges by key or of everything. Reads
/// skip entries past `retainUntil` and delete them lazily; ``purgeExpired()`` deletes them in bulk.
/// The file runs in WAL mode with `synchronous=NORMAL`: a crash may lose the last moments of writes, which a
/// cache can afford; `secure_delete` overwrites what a deleted entry held. An entry whose bytes cannot be
/// decoded is logged, deleted and reported as a miss; one sealed with a secret no longer configured is a
/// miss (and is overwritten by the next answer).
///
/// All methods may be called concurrently; they share one connection. Call ``close()`` once, after every
/// other call has returned.
public final class SQLiteStore: CacheStore {
    let connection: SQLiteConnection
    let sealer: EntrySealer
    let clock: WallClock
    let logger: Logger
    private let closed = Mutex(false)
    /// Answers queued by ``putBehind(_:_:sealing:)``.
    let writes = Mutex(WriteQueue())
    /// The keys the file holds, when the store keeps them (``KeyPresence``).
    let presence: Mutex<KeyPresence>
    /// The background read of the keys, awaited by ``close()``.
    let keysLoading = Mutex<Task<Void, Never>?>(nil)

    private init(connection: SQLiteConnection, sealer: EntrySealer, clock: WallClock, logger: Logger, tracksKeys: Bool) {
        self.connection = connection
        self.sealer = sealer
        self.clock = clock
        self.logger = logger
        self.presence = Mutex(KeyPresence(tracking: tracksKeys))
    }

    /// Opens (creating if needed) the cache file at `path` and its table. With `tracksKeys` the store
    /// keeps the file's keys in memory and answers a key it does not hold without asking SQLite
    /// (``KeyPresence``): only for a file no other process writes while it is open.
    ///
    /// Throws ``CacheStoreError`` with code `storageFailed` when the file cannot be opened or is not a
    /// SQLite database.
    public static func open(
        path: String,
        sealer: EntrySealer,
        clock: WallClock = .system,
        logger: Logger = Logger(label: "deja.cache.sqlite"),
        tracksKeys: Bool = false
    ) async throws(CacheStoreError) -> SQLiteStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw .storage("could not open the SQLite cache file", error)
        }
        do {
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
            // What a deleted or replaced entry held is overwritten, not left in free pages.
            _ = try await connection.query("PRAGMA secure_delete=ON")
            // Another process holding the write lock (a backup, an operator's shell) makes a write fail
            // after 2 s — logged, the answer still sent — instead of retrying forever.
            _ = try await connection.query("PRAGMA busy_timeout=2000")
            _ = try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS cache_entries (
                    key BLOB PRIMARY KEY NOT NULL,
                    entry BLOB NOT NULL,
                    retain_until REAL NOT NULL
                )
                """
            )
            _ = try await connection.query(
                "CREATE INDEX IF NOT EXISTS cache_entries_retain_until ON cache_entries(retain_until)"
            )
            try await addMetadataColumns(connection)
            _ = try await connection.query(recentKeysTable)
        } catch {
            try? await connection.close()
            throw .storage("could not prepare the SQLite cache file", error)
        }
        logger.debug("opened SQLite cache", metadata: ["deja.cache.path": .string(path)])
        let store = SQLiteStore(connection: connection, sealer: sealer, clock: clock, logger: logger, tracksKeys: tracksKeys)
        if tracksKeys { store.keysLoading.withLock { $0 = Task { await store.loadKeys() } } }
        return store
    }

    /// Closes the file once the queued writes are written. Later calls throw ``CacheStoreError`` with
    /// code `closed`; closing twice does nothing.
    public func close() async throws(CacheStoreError) {
        await keysLoaded()
        await writesSettled()
        let wasClosed = closed.withLock { state in
            defer { state = true }
            return state
        }
        guard !wasClosed else { return }
        do {
            try await connection.close()
        } catch {
            throw .storage("could not close the SQLite cache file", error)
        }
    }

    /// The entry under `key` while retained; `nil` when absent, past `retainUntil` (then deleted),
    /// sealed with a secret no longer configured, or undecodable (then logged and deleted). Throws
    /// ``CacheStoreError`` when the database fails.
    public func get(_ key: CacheKey, sealing: SealingDigest) async throws(CacheStoreError) -> CacheEntry? {
        if let queued = queued(key, sealing: sealing) { return queued }
        guard presence.withLock({ $0.mayHold(key) }) else { return nil }
        let keyBlob = Self.blob(key)
        let rows = try await run("could not read from the SQLite cache") {
            try await connection.query(
                "SELECT entry, retain_until FROM cache_entries WHERE key = ?", [.blob(keyBlob)]
            )
        }
        guard let row = rows.first else { return nil }
        let now = clock.now()
        guard let retainUntil = row.column("retain_until")?.double, now < retainUntil else {
            try await run("could not delete an expired cache entry") {
                _ = try await connection.query(
                    "DELETE FROM cache_entries WHERE key = ? AND retain_until <= ?", [.blob(keyBlob), .float(now)]
                )
            }
            return nil
        }
        let stored = row.column("entry") ?? .null
        do throws(CacheStoreError) {
            guard let blob = stored.blob else { throw .corrupt("cache entry column is not a blob") }
            switch sealer.open(blob, name: key, sealing: sealing, purpose: .entry) {
            case .success(let opened):
                return try CacheEntry(decoding: opened)
            case .failure(.unknownSecret), .failure(.rejected):
                return nil
            case .failure(.malformed):
                throw .corrupt("cache entry is not sealed")
            }
        } catch {
            logger.warning(
                "discarding an undecodable cache entry",
                metadata: ["deja.cache": "sqlite", "deja.error": .string(error.message)]
            )
            try await run("could not delete an undecodable cache entry") {
                _ = try await connection.query(
                    "DELETE FROM cache_entries WHERE key = ? AND entry IS ?", [.blob(keyBlob), stored]
                )
            }
            return nil
        }
    }

    /// Stores `entry` under `key`, replacing any previous entry; an entry already past `retainUntil`
    /// removes the key instead. Throws ``CacheStoreError`` when the database fails.
    public func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws(CacheStoreError) {
        await writesSettled()  // after any answer queued behind its response (``putBehind(_:_:sealing:)``)
        guard clock.now() < entry.retainUntil else {
            try await remove(key)
            return
        }
        presence.withLock { $0.stored(key) }
        let binds = row(key, entry, sealing: sealing)
        try await run("could not write to the SQLite cache") {
            _ = try await connection.query(Self.upsert(values: "(?, ?, ?, ?, ?, ?, ?, ?)"), binds)
        }
    }

    /// Values bound per row of ``upsert(values:)``.
    static let upsertColumns = 8

    /// Inserts the rows of `values` (each `(?, …)` with ``upsertColumns`` places), replacing a row with the same key.
    static func upsert(values: String) -> String {
        """
        INSERT INTO cache_entries (key, entry, retain_until, task, model_version, scope_tag, created_at, bytes)
        VALUES \(values)
        ON CONFLICT(key) DO UPDATE SET entry = excluded.entry, retain_until = excluded.retain_until,
            task = excluded.task, model_version = excluded.model_version, scope_tag = excluded.scope_tag,
            created_at = excluded.created_at, bytes = excluded.bytes
        """
    }

    /// The values of `entry`'s row for ``upsert(values:)``: the entry sealed, its retention and metadata.
    func row(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) -> [SQLiteData] {
        let sealed = sealer.seal(entry.encoded(), name: key, sealing: sealing, purpose: .entry)
        return [
            .blob(Self.blob(key)), .blob(sealed), .float(entry.retainUntil), .text(entry.task), .text(entry.modelVersion),
            .integer(Int(Int64(bitPattern: entry.scopeTag))), .float(entry.createdAt), .integer(sealed.readableBytes),
        ]
    }

    /// Deletes the entry under `key`, if any.
    public func remove(_ key: CacheKey) async throws(CacheStoreError) {
        try await deleting { () async throws(CacheStoreError) in
            await writesSettled()
            let keyBlob = Self.blob(key)
            let rows = try await run("could not delete from the SQLite cache") {
                try await connection.query("DELETE FROM cache_entries WHERE key = ? RETURNING key", [.blob(keyBlob)])
            }
            return ((), Self.prefixes(rows))
        }
    }

    /// Deletes every entry.
    public func removeAll() async throws(CacheStoreError) {
        try await deleting { () async throws(CacheStoreError) in
            await writesSettled()
            try await run("could not clear the SQLite cache") {
                _ = try await connection.query("DELETE FROM cache_entries")
            }
            return ((), nil)
        }
    }

    /// Deletes every entry past its `retainUntil`; returns how many.
    @discardableResult
    public func purgeExpired() async throws(CacheStoreError) -> Int {
        try await deleting { () async throws(CacheStoreError) in
            await writesSettled()
            let now = clock.now()
            let rows = try await run("could not purge the SQLite cache") {
                try await connection.query("DELETE FROM cache_entries WHERE retain_until <= ? RETURNING key", [.float(now)])
            }
            return (rows.count, Self.prefixes(rows))
        }
    }

    /// Entries currently retained.
    public func count() async throws(CacheStoreError) -> Int {
        let now = clock.now()
        let rows = try await run("could not count the SQLite cache") {
            try await connection.query(
                "SELECT count(*) AS n FROM cache_entries WHERE retain_until > ?", [.float(now)]
            )
        }
        return rows.first?.column("n")?.integer ?? 0
    }

    // MARK: Purge and capacity

    /// The metadata columns, added to files created before them; old rows keep them `NULL`.
    static let metadataColumns = [
        ("task", "TEXT"), ("model_version", "TEXT"), ("scope_tag", "INTEGER"), ("created_at", "REAL"), ("bytes", "INTEGER"),
    ]

    private static func addMetadataColumns(_ connection: SQLiteConnection) async throws {
        let existing = Set(try await connection.query("PRAGMA table_info(cache_entries)").compactMap { $0.column("name")?.string })
        for (name, type) in metadataColumns where !existing.contains(name) {
            _ = try await connection.query("ALTER TABLE cache_entries ADD COLUMN \(name) \(type)")
        }
        // Purges select by task and version (and age within them), or by scope; reports group by task.
        _ = try await connection.query(
            "CREATE INDEX IF NOT EXISTS cache_entries_task ON cache_entries(task, model_version, created_at)")
        _ = try await connection.query("CREATE INDEX IF NOT EXISTS cache_entries_scope ON cache_entries(scope_tag)")
    }

    /// Rows a purge deletes per statement, so the write lock is never held long.
    static let purgeChunk = 1000

    /// Deletes every entry `filter` matches, in chunks of ``purgeChunk`` rows; returns how many.
    ///
    /// Rows from before the metadata columns match only a purge by key or of everything (``PurgeFilter``).
    @discardableResult
    public func remove(matching filter: PurgeFilter) async throws(CacheStoreError) -> Int {
        guard !filter.isEmpty else { return 0 }
        return try await deleting { () async throws(CacheStoreError) in
            await writesSettled()
            return try await remove(where: filter)
        }
    }

    /// Deletes, a chunk at a time, what `filter` matches; returns how many and their key prefixes.
    private func remove(where filter: PurgeFilter) async throws(CacheStoreError) -> (Int, deleted: [UInt64]?) {
        var conditions: [String] = []
        var binds: [SQLiteData] = []
        if let key = filter.key { conditions.append("key = ?"); binds.append(.blob(Self.blob(key))) }
        if let task = filter.task { conditions.append("task = ?"); binds.append(.text(task)) }
        if let version = filter.modelVersion { conditions.append("model_version = ?"); binds.append(.text(version)) }
        if let tag = filter.scopeTag { conditions.append("scope_tag = ?"); binds.append(.integer(Int(Int64(bitPattern: tag)))) }
        if let before = filter.createdBefore { conditions.append("created_at < ?"); binds.append(.float(before)) }
        let condition = conditions.isEmpty ? "1" : conditions.joined(separator: " AND ")
        let sql = "DELETE FROM cache_entries WHERE key IN (SELECT key FROM cache_entries WHERE \(condition) LIMIT \(Self.purgeChunk)) RETURNING key"
        var removed: [UInt64] = []
        while true {
            let rows = try await run("could not purge the SQLite cache") { try await connection.query(sql, binds) }
            removed += Self.prefixes(rows)
            if rows.count < Self.purgeChunk { return (removed.count, removed) }
        }
    }

    /// Entries retained per task, with their stored sizes (the sealed value); rows from before the
    /// metadata columns are counted under task `""` with the size of their stored value.
    public func usageByTask() async throws(CacheStoreError) -> [TaskCacheUsage] {
        let now = clock.now()
        let totals = try await run("could not read the SQLite cache's sizes") {
            try await connection.query(
                """
                SELECT coalesce(task, '') AS task, count(*) AS n, sum(coalesce(bytes, length(entry))) AS total
                FROM cache_entries WHERE retain_until > ? GROUP BY coalesce(task, '') ORDER BY 1
                """, [.float(now)])
        }
        var usage: [TaskCacheUsage] = []
        for row in totals {
            let task = row.column("task")?.string ?? ""
            let count = row.column("n")?.integer ?? 0
            let total = row.column("total")?.integer ?? 0
            // Nearest rank: the ⌈0.99 n⌉-th smallest size.
            let offset = max(0, TaskCacheUsage.nearestRankIndex(count: count, percentile: 99))
            let p99 = try await run("could not read the SQLite cache's sizes") {
                try await connection.query(
                    """
                    SELECT coalesce(bytes, length(entry)) AS size FROM cache_entries
                    WHERE coalesce(task, '') = ? AND retain_until > ? ORDER BY 1 LIMIT 1 OFFSET ?
                    """, [.text(task), .float(now), .integer(offset)])
            }
            usage.append(TaskCacheUsage(
                task: task, entries: count, bytes: Int64(total), meanBytes: count == 0 ? 0 : Double(total) / Double(count),
                p99Bytes: p99.first?.column("size")?.integer ?? 0))
        }
        return usage
    }

    /// Runs one statement; for tests that shape rows as older versions wrote them.
    func execute(_ sql: String, _ binds: [SQLiteData]) async throws(CacheStoreError) {
        presence.withLock { $0.turnOff() }  // rows it writes are not noted
        _ = try await run("could not run a statement on the SQLite cache") { try await connection.query(sql, binds) }
    }

    static func blob(_ key: CacheKey) -> ByteBuffer { ByteBuffer(bytes: key.bytes) }

    func run<T>(_ message: String, _ body: () async throws -> T) async throws(CacheStoreError) -> T {
        guard !closed.withLock({ $0 }) else { throw .closedStore }
        do {
            return try await body()
        } catch {
            throw .storage(message, error)
        }
    }
}
