import DejaCore
import PostgresNIO

extension PostgresLedger {
    /// Appends `records` in one transaction, committed before this returns.
    public func record(_ records: [UsageRecord]) async throws(LedgerError) {
        try await record(records, settling: [])
    }

    /// Appends `records` and removes `reservations` in one transaction, committed before this returns.
    public func record(_ records: [UsageRecord], settling reservations: [Reservation]) async throws(LedgerError) {
        guard !records.isEmpty || !reservations.isEmpty else { return }
        let settling = reservations.filter(\.holds).map(\.id)
        guard records.count > Self.rowsPerInsert else {
            // One statement is its own transaction: the records and the settled reservations in one round
            // trip. Its hourly counts are added in key order, but a larger batch's several statements may
            // hold rows out of order: a deadlock rolls this statement back whole, and it is run again.
            var attempt = 0
            while true {
                attempt += 1
                do {
                    return try await read("could not record usage") {
                        try await client.query(Self.insertion(records, settling: settling), logger: logger)
                    }
                } catch where attempt < 5 && error.underlying.flatMap(Self.sqlState) == "40P01" {
                    continue
                }
            }
        }
        try await transaction("could not record usage") { connection in
            try await insert(records, on: connection)
            try await deleteReservations(settling, on: connection)
        }
    }

    /// One statement that inserts `records` (at most ``rowsPerInsert``) and deletes the reservations
    /// `settling`, if any, in a data-modifying `WITH`.
    static func insertion(_ records: some Collection<UsageRecord>, settling: [String]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: records.count * 11 + 1)
        var sql = ""
        if !settling.isEmpty {
            binds.append(settling)
            sql = "WITH settled AS (DELETE FROM reservations WHERE id = ANY($1)) "
        }
        var rows: [String] = []
        rows.reserveCapacity(records.count)
        for record in records {
            let base = binds.count
            rows.append("(" + (1...11).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
            binds.append(record.time)
            binds.append(record.tenant)
            binds.append(record.keyID)
            binds.append(record.task)
            binds.append(record.outcome.rawValue)
            binds.append(record.meteredTokens)
            binds.append(record.billedTokens)
            binds.append(record.latencyMicros)
            binds.append(Int64(record.status))
            binds.append(record.modelSeconds)
            if let key = record.contentKey { binds.append(ByteBuffer(bytes: key.bytes)) } else { binds.appendNull() }
        }
        sql += rows.isEmpty
            ? "SELECT 1"
            : "INSERT INTO usage (\(ReportSQL.recordColumns)) VALUES \(rows.joined(separator: ", "))"
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// Inserts records, 500 rows per statement. Call inside a transaction.
    func insert(_ records: [UsageRecord], on connection: PostgresConnection) async throws {
        var start = 0
        while start < records.count {
            let chunk = records[start..<min(start + Self.rowsPerInsert, records.count)]
            try await connection.query(Self.insertion(chunk, settling: []), logger: logger)
            start += Self.rowsPerInsert
        }
    }

    /// Deletes reservations by id. Call inside a transaction.
    func deleteReservations(_ ids: [String], on connection: PostgresConnection) async throws {
        guard !ids.isEmpty else { return }
        try await connection.query("DELETE FROM reservations WHERE id = ANY(\(ids))", logger: logger)
    }

    /// A report over the query's records, one row per group of `query.groupBy`, ordered by day, tenant,
    /// task and key; aggregated in SQL. `from` is inclusive and `to` exclusive.
    public func usage(_ query: UsageQuery) async throws(LedgerError) -> [UsageRow] {
        let report = ReportSQL.usage(query, .postgres)
        return try await read("could not build the usage report") {
            var result: [UsageRow] = []
            for try await row in try await client.query(Self.query(report), logger: logger) {
                let cells = row.makeRandomAccess()
                func text(_ name: String) throws -> String? {
                    cells.contains(name) ? try cells[name].decode(String?.self) : nil
                }
                func int(_ name: String) throws -> Int64 { try cells[name].decode(Int64.self) }
                let built = ReportSQL.row(
                    dimensions: report.dimensions,
                    tenant: try text("tenant"), task: try text("task"), day: try text("day"), keyID: try text("key_id"),
                    hour: try text("hour"), status: cells.contains("status") ? try cells["status"].decode(Int64.self) : nil,
                    requests: try int("requests"), hits: try int("hits"), coalesced: try int("coalesced"),
                    misses: try int("misses"), errors: try int("errors"), billed: try int("billed"), saved: try int("saved"),
                    modelSecondsSaved: try cells["model_seconds_saved"].decode(Double.self)
                )
                if let built { result.append(built) }
            }
            return result
        }
    }

    /// The query's records (its `groupBy` is ignored), ordered by time, then by when they were written.
    public func records(_ query: UsageQuery) async throws(LedgerError) -> [UsageRecord] {
        let export = ReportSQL.records(query, .postgres)
        return try await read("could not export usage records") {
            var result: [UsageRecord] = []
            let rows = try await client.query(Self.query(export), logger: logger)
            for try await (time, tenant, keyID, task, outcome, metered, billed, latency, status, modelSeconds, contentKey) in rows.decode(
                (Double, String, String, String, String, Int64, Int64, Int64, Int64, Double, ByteBuffer?).self
            ) {
                result.append(UsageRecord(
                    time: time, tenant: tenant, keyID: keyID, task: task, outcome: Outcome(rawValue: outcome) ?? .error,
                    meteredTokens: metered, billedTokens: billed, latencyMicros: latency, status: Int(status),
                    modelSeconds: modelSeconds, contentKey: contentKey.flatMap { CacheKey(bytes: $0.readableBytesView) }
                ))
            }
            return result
        }
    }

    /// Adds `tally` to the hourly counts in one transaction, committed before this returns.
    ///
    /// Rows are added in the tables' key order, so instances adding to the same rows wait for each other
    /// rather than deadlock.
    public func count(_ tally: UsageTally) async throws(LedgerError) {
        guard !tally.isEmpty else { return }
        let statements = ReportSQL.upserts(tally, .postgres)
        guard statements.count > 1 else {
            return try await read("could not count usage") {
                for statement in statements { try await client.query(Self.query(statement), logger: logger) }
            }
        }
        try await transaction("could not count usage") { connection in
            for statement in statements { try await connection.query(Self.query(statement), logger: logger) }
        }
    }

    /// One step of deleting usage past its retention; see ``Ledger/purgeUsage(recordsBefore:countsBefore:limit:)``.
    ///
    /// Records go by month (``UsagePartitions/cutoff(recordsBefore:)``): a monthly partition wholly before
    /// the start of the month holding `recordsBefore` is dropped, one per step; the default partition and
    /// the one from before partitions lose their older rows a step at a time, as the whole table did.
    public func purgeUsage(recordsBefore: Double?, countsBefore: Double?, limit: Int) async throws(LedgerError) -> Int {
        var deleted = 0
        var byRow: [String] = []
        let cutoff = recordsBefore.map(UsagePartitions.cutoff(recordsBefore:))
        if let cutoff {
            do {
                deleted += try await dropExpiredPartition(before: cutoff)
            } catch {
                // E.g. its lock not had in time: the other deletes go on; the next sweep tries again.
                logger.warning("could not drop a usage partition past retention", metadata: ["error": "\(error)"])
            }
            byRow = ["usage_default"] + (try await partitions()).partitions.filter { $0.from == nil }.map(\.name)
        }
        for statement in ReportSQL.purges(recordTables: byRow, recordsBefore: cutoff, countsBefore: countsBefore, limit: limit, .postgres) {
            deleted += try await read("could not delete usage past its retention") {
                try await client.query(Self.query(statement), logger: logger).collect().count
            }
        }
        return deleted
    }

    /// The query's hourly counts, ordered by hour.
    public func counts(_ query: UsageQuery) async throws(LedgerError) -> [UsageCount] {
        let export = ReportSQL.counts(query, .postgres)
        return try await read("could not export usage counts") {
            var result: [UsageCount] = []
            let rows = try await client.query(Self.query(export), logger: logger)
            for try await (hour, tenant, keyID, task, outcome, status, requests, metered, billed, saved, secondsSaved) in rows.decode(
                (Double, String, String, String, String, Int64, Int64, Int64, Int64, Int64, Double).self
            ) {
                result.append(UsageCount(
                    group: UsageCount.Group(hour: hour, tenant: tenant, keyID: keyID, task: task,
                                            outcome: Outcome(rawValue: outcome) ?? .error, status: Int(status)),
                    requests: requests, meteredTokens: metered, billedTokens: billed, savedTokens: saved, modelSecondsSaved: secondsSaved
                ))
            }
            return result
        }
    }

    /// The most repeated content keys among the query's records and key counts.
    public func repeatedKeys(_ query: RepeatedKeysQuery) async throws(LedgerError) -> [RepeatedKey] {
        let report = ReportSQL.repeatedKeys(query, .postgres)
        return try await read("could not find the most repeated requests") {
            var result: [RepeatedKey] = []
            let rows = try await client.query(Self.query(report), logger: logger)
            for try await (key, task, requests, cached, firstSeen, lastSeen, saved) in rows.decode(
                (ByteBuffer, String, Int64, Int64, Double, Double, Int64).self
            ) {
                guard let key = CacheKey(bytes: key.readableBytesView) else { continue }
                result.append(RepeatedKey(
                    key: key, task: task, requests: requests, cached: cached, firstSeen: firstSeen, lastSeen: lastSeen,
                    savedTokens: saved
                ))
            }
            return result
        }
    }

    static func query(_ report: ReportSQL) -> PostgresQuery {
        PostgresQuery(unsafeSQL: report.sql, binds: bindings(report.binds))
    }

    /// The report SQL's values as PostgreSQL binds, in order.
    static func bindings(_ values: [ReportSQL.Value]) -> PostgresBindings {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let text): binds.append(text)
            case .double(let double): binds.append(double)
            case .integer(let integer): binds.append(integer)
            case .bytes(let bytes): binds.append(ByteBuffer(bytes: bytes))
            }
        }
        return binds
    }
}
