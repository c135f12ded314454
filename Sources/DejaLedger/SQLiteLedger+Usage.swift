import DejaCore
import NIOCore
import SQLiteNIO

extension SQLiteLedger {
    /// A report over the query's records, one row per group of `query.groupBy`, ordered by day, tenant,
    /// task and key; aggregated in SQL.
    ///
    /// `from` is inclusive and `to` exclusive. Billed is what was billed; saved is metered − billed over
    /// answers served from cache (hit, coalesced, stale).
    public func usage(_ query: UsageQuery) async throws(LedgerError) -> [UsageRow] {
        let report = ReportSQL.usage(query, .sqlite)
        let rows = try await read("could not build the usage report") {
            try await reader.query(report.sql, report.binds.map(Self.sqliteData))
        }
        return rows.compactMap { row in
            func int(_ name: String) -> Int64 { Int64(row.column(name)?.integer ?? 0) }
            return ReportSQL.row(
                dimensions: report.dimensions,
                tenant: row.column("tenant")?.string,
                task: row.column("task")?.string,
                day: row.column("day")?.string,
                keyID: row.column("key_id")?.string,
                hour: row.column("hour")?.string,
                status: row.column("status")?.integer.map(Int64.init),
                requests: int("requests"), hits: int("hits"), coalesced: int("coalesced"), misses: int("misses"),
                errors: int("errors"), billed: int("billed"), saved: int("saved"),
                modelSecondsSaved: row.column("model_seconds_saved")?.double ?? 0
            )
        }
    }

    /// The query's records (its `groupBy` is ignored), ordered by time, then by when they were written.
    public func records(_ query: UsageQuery) async throws(LedgerError) -> [UsageRecord] {
        let export = ReportSQL.records(query, .sqlite)
        let rows = try await read("could not export usage records") {
            try await reader.query(export.sql, export.binds.map(Self.sqliteData))
        }
        return rows.map { row in
            UsageRecord(
                time: row.column("time")?.double ?? 0,
                tenant: row.column("tenant")?.string ?? "",
                keyID: row.column("key_id")?.string ?? "",
                task: row.column("task")?.string ?? "",
                outcome: Outcome(rawValue: row.column("outcome")?.string ?? "") ?? .error,
                meteredTokens: Int64(row.column("metered")?.integer ?? 0),
                billedTokens: Int64(row.column("billed")?.integer ?? 0),
                latencyMicros: Int64(row.column("latency_us")?.integer ?? 0),
                status: row.column("status")?.integer ?? 0,
                modelSeconds: row.column("model_seconds")?.double ?? 0,
                contentKey: row.column("content_key")?.blob.flatMap { CacheKey(bytes: $0.readableBytesView) }
            )
        }
    }

    /// Adds `tally` to the hourly counts in one transaction, committed and fsynced before this returns.
    public func count(_ tally: UsageTally) async throws(LedgerError) {
        guard !tally.isEmpty else { return }
        let statements = ReportSQL.upserts(tally, .sqlite)
        try await write("could not count usage") {
            try await transaction {
                for statement in statements {
                    _ = try await writer.query(statement.sql, statement.binds.map(Self.sqliteData))
                }
            }
        }
    }

    /// One step of deleting usage past its retention; see ``Ledger/purgeUsage(recordsBefore:countsBefore:limit:)``.
    /// Each statement holds the write gate alone, so a billed answer waits for at most one of them.
    ///
    /// A step that deleted rows then returns up to ``vacuumPages`` free pages to the file system (ledgers
    /// created with incremental auto-vacuum, i.e. by Deja ≥ schema 7; older files keep their free pages
    /// for reuse until a manual `VACUUM`, see docs/operations.md).
    public func purgeUsage(recordsBefore: Double?, countsBefore: Double?, limit: Int) async throws(LedgerError) -> Int {
        var deleted = 0
        for statement in ReportSQL.purges(recordsBefore: recordsBefore, countsBefore: countsBefore, limit: limit, .sqlite) {
            deleted += try await write("could not delete usage past its retention") {
                try await writer.query(statement.sql, statement.binds.map(Self.sqliteData)).count
            }
        }
        if deleted > 0 {
            try await write("could not return free ledger pages") {
                _ = try await writer.query("PRAGMA incremental_vacuum(\(Self.vacuumPages))")
            }
        }
        return deleted
    }

    /// Nothing to prepare: SQLite's `usage` is one table.
    public func preparePartitions(at time: Double) async throws(LedgerError) {}

    /// Free pages a retention step gives back at most: 1 MiB of 4 KiB pages, a few milliseconds of writing.
    static let vacuumPages = 256

    /// The query's hourly counts, ordered by hour.
    public func counts(_ query: UsageQuery) async throws(LedgerError) -> [UsageCount] {
        let export = ReportSQL.counts(query, .sqlite)
        let rows = try await read("could not export usage counts") {
            try await reader.query(export.sql, export.binds.map(Self.sqliteData))
        }
        return rows.map { row in
            func int(_ name: String) -> Int64 { Int64(row.column(name)?.integer ?? 0) }
            return UsageCount(
                group: UsageCount.Group(
                    hour: row.column("hour")?.double ?? 0, tenant: row.column("tenant")?.string ?? "",
                    keyID: row.column("key_id")?.string ?? "", task: row.column("task")?.string ?? "",
                    outcome: Outcome(rawValue: row.column("outcome")?.string ?? "") ?? .error, status: row.column("status")?.integer ?? 0
                ),
                requests: int("requests"), meteredTokens: int("metered"), billedTokens: int("billed"), savedTokens: int("saved"),
                modelSecondsSaved: row.column("model_seconds_saved")?.double ?? 0
            )
        }
    }

    /// The most repeated content keys among the query's records and key counts.
    public func repeatedKeys(_ query: RepeatedKeysQuery) async throws(LedgerError) -> [RepeatedKey] {
        let report = ReportSQL.repeatedKeys(query, .sqlite)
        let rows = try await read("could not find the most repeated requests") {
            try await reader.query(report.sql, report.binds.map(Self.sqliteData))
        }
        return rows.compactMap { row in
            guard let key = row.column("content_key")?.blob.flatMap({ CacheKey(bytes: $0.readableBytesView) }) else { return nil }
            return RepeatedKey(
                key: key, task: row.column("task")?.string ?? "",
                requests: Int64(row.column("requests")?.integer ?? 0), cached: Int64(row.column("cached")?.integer ?? 0),
                firstSeen: row.column("first_seen")?.double ?? 0, lastSeen: row.column("last_seen")?.double ?? 0,
                savedTokens: Int64(row.column("saved")?.integer ?? 0)
            )
        }
    }

    static func sqliteData(_ value: ReportSQL.Value) -> SQLiteData {
        switch value {
        case .text(let text): .text(text)
        case .double(let double): .float(double)
        case .integer(let integer): .integer(Int(integer))
        case .bytes(let bytes): .blob(ByteBuffer(bytes: bytes))
        }
    }
}
