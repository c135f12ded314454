import SQLiteNIO

extension SQLiteLedger {
    /// Per tenant, task and UTC day, ordered by day, tenant and task; aggregated in SQL.
    ///
    /// When `query.tenant` is nil every tenant's rows are returned, each carrying its tenant; otherwise
    /// only that tenant's. `from` is inclusive and `to` exclusive.
    public func usage(_ query: UsageQuery) async throws(LedgerError) -> [UsageRow] {
        var conditions: [String] = []
        var binds: [SQLiteData] = []
        if let tenant = query.tenant {
            conditions.append("tenant = ?")
            binds.append(.text(tenant))
        }
        if let from = query.from {
            conditions.append("time >= ?")
            binds.append(.float(from))
        }
        if let to = query.to {
            conditions.append("time < ?")
            binds.append(.float(to))
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let cached = "outcome IN ('hit', 'coalesced', 'stale')"
        let sql = """
            SELECT tenant, task, date(time, 'unixepoch') AS day,
                count(*) AS requests,
                sum(outcome = 'hit') AS hits,
                sum(outcome = 'coalesced') AS coalesced,
                sum(outcome = 'miss') AS misses,
                sum(outcome = 'error') AS errors,
                sum(billed) AS billed,
                sum(CASE WHEN \(cached) THEN metered - billed ELSE 0 END) AS saved,
                total(CASE WHEN \(cached) THEN model_seconds ELSE 0 END) AS model_seconds_saved
            FROM usage \(filter)
            GROUP BY tenant, task, day
            ORDER BY day, tenant, task
            """
        let rows = try await read("could not build the usage report") {
            try await reader.query(sql, binds)
        }
        return rows.map { row in
            func int(_ name: String) -> Int64 { Int64(row.column(name)?.integer ?? 0) }
            let requests = int("requests")
            let hits = int("hits")
            let coalesced = int("coalesced")
            let errors = int("errors")
            let answered = requests - errors
            return UsageRow(
                tenant: row.column("tenant")?.string,
                task: row.column("task")?.string ?? "",
                day: row.column("day")?.string ?? "",
                requests: requests,
                hits: hits,
                coalesced: coalesced,
                misses: int("misses"),
                errors: errors,
                billedTokens: int("billed"),
                savedTokens: int("saved"),
                modelSecondsSaved: row.column("model_seconds_saved")?.double ?? 0,
                hitRatio: answered > 0 ? Double(hits + coalesced) / Double(answered) : 0
            )
        }
    }
}
