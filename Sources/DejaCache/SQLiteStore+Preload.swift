import DejaCore
import NIOCore
import SQLiteNIO

extension SQLiteStore: PreloadSource {
    /// Keys per `IN (…)` list: well under SQLite's limit on bound parameters.
    static let keysPerQuery = 500

    /// The table of recently used keys (``recordRecentKeys(_:at:limit:)``), made when the file is opened.
    static let recentKeysTable = """
        CREATE TABLE IF NOT EXISTS recent_keys (
            key BLOB PRIMARY KEY NOT NULL,
            used_at REAL NOT NULL
        )
        """

    /// Upserts `keys` into `recent_keys` (the first most recent), then keeps the `limit` most recent.
    public func recordRecentKeys(_ keys: [CacheKey], at time: Double, limit: Int) async throws(CacheStoreError) {
        guard !keys.isEmpty else { return }
        try await run("could not record recently used keys") {
            _ = try await connection.query("BEGIN")
            do {
                var rank = 0
                for chunk in keys.chunks(of: Self.keysPerQuery) {
                    var binds: [SQLiteData] = []
                    binds.reserveCapacity(chunk.count * 2)
                    for key in chunk {
                        // Later ranks are older by a microsecond each, so the order survives the upsert.
                        binds.append(.blob(Self.blob(key)))
                        binds.append(.float(time - Double(rank) * 1e-6))
                        rank += 1
                    }
                    let values = Array(repeating: "(?, ?)", count: chunk.count).joined(separator: ", ")
                    _ = try await connection.query(
                        """
                        INSERT INTO recent_keys (key, used_at) VALUES \(values)
                        ON CONFLICT(key) DO UPDATE SET used_at = max(used_at, excluded.used_at)
                        """,
                        binds
                    )
                }
                _ = try await connection.query(
                    "DELETE FROM recent_keys WHERE key NOT IN (SELECT key FROM recent_keys ORDER BY used_at DESC LIMIT ?)",
                    [.integer(max(0, limit))]
                )
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// The remembered keys, most recently used first.
    public func recentKeys(limit: Int) async throws(CacheStoreError) -> [CacheKey] {
        let rows = try await run("could not read recently used keys") {
            try await connection.query(
                "SELECT key FROM recent_keys ORDER BY used_at DESC LIMIT ?", [.integer(max(0, limit))]
            )
        }
        return rows.compactMap { row in row.column("key")?.blob.flatMap { CacheKey(bytes: $0.readableBytesView) } }
    }

    /// The retained entries among `keys`, sealed as stored.
    public func sealedEntries(_ keys: [CacheKey]) async throws(CacheStoreError) -> [SealedEntry] {
        let now = clock.now()
        var found: [SealedEntry] = []
        for chunk in keys.chunks(of: Self.keysPerQuery) {
            let binds: [SQLiteData] = chunk.map { .blob(Self.blob($0)) } + [.float(now)]
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await run("could not read cache entries to preload") {
                try await connection.query(
                    "SELECT key, entry, retain_until FROM cache_entries WHERE key IN (\(marks)) AND retain_until > ?", binds
                )
            }
            for row in rows {
                guard let key = row.column("key")?.blob.flatMap({ CacheKey(bytes: $0.readableBytesView) }),
                      let value = row.column("entry")?.blob,
                      let retainUntil = row.column("retain_until")?.double
                else { continue }
                found.append(SealedEntry(key: key, value: value, retainUntil: retainUntil))
            }
        }
        return found
    }

    /// Opens an entry read by ``sealedEntries(_:)``.
    public func open(_ sealed: SealedEntry, sealing: SealingDigest) -> CacheEntry? {
        guard case .success(let opened) = sealer.open(sealed.value, name: sealed.key, sealing: sealing, purpose: .entry) else {
            return nil
        }
        return try? CacheEntry(decoding: opened)
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: Swift.max(1, size)).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
