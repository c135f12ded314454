/// The statements that add a ``UsageTally`` to the hourly tables; the same for both backends but for
/// placeholders and the two-argument minimum and maximum.
extension ReportSQL {
    /// Rows per statement: at most 11 binds a row, well under both backends' limits.
    static let rowsPerUpsert = 500

    /// Adds `counts` (distinct groups) to `usage_hourly`, creating the rows that are missing.
    static func upsert(_ counts: some Collection<UsageCount>, _ dialect: Dialect) -> ReportSQL {
        var binds: [Value] = []
        binds.reserveCapacity(counts.count * 11)
        var rows: [String] = []
        for count in counts {
            let group = count.group
            binds += [
                .double(group.hour), .text(group.tenant), .text(group.keyID), .text(group.task), .text(group.outcome.rawValue),
                .integer(Int64(group.status)), .integer(count.requests), .integer(count.meteredTokens), .integer(count.billedTokens),
                .integer(count.savedTokens), .double(count.modelSecondsSaved),
            ]
            rows.append(placeholders(11, after: binds.count - 11, dialect))
        }
        let added = ["requests", "metered", "billed", "saved", "model_seconds_saved"].map { "\($0) = usage_hourly.\($0) + excluded.\($0)" }
        let sql = """
            INSERT INTO usage_hourly (\(countColumns)) VALUES \(rows.joined(separator: ", "))
            ON CONFLICT (tenant, hour, key_id, task, outcome, status) DO UPDATE SET \(added.joined(separator: ", "))
            """
        return ReportSQL(sql: sql, binds: binds, dimensions: [])
    }

    /// Adds `counts` (distinct groups) to `usage_keys`, creating the rows that are missing.
    static func upsert(_ counts: some Collection<KeyCount>, _ dialect: Dialect) -> ReportSQL {
        var binds: [Value] = []
        binds.reserveCapacity(counts.count * 9)
        var rows: [String] = []
        for count in counts {
            let group = count.group
            binds += [
                .double(group.hour), .text(group.tenant), .text(group.task), .bytes(group.key.bytes), .integer(count.requests),
                .integer(count.cached), .integer(count.savedTokens), .double(count.firstSeen), .double(count.lastSeen),
            ]
            rows.append(placeholders(9, after: binds.count - 9, dialect))
        }
        let (least, greatest) = dialect == .sqlite ? ("min", "max") : ("least", "greatest")
        let sql = """
            INSERT INTO usage_keys (hour, tenant, task, content_key, requests, cached, saved, first_seen, last_seen)
            VALUES \(rows.joined(separator: ", "))
            ON CONFLICT (tenant, hour, task, content_key) DO UPDATE SET
                requests = usage_keys.requests + excluded.requests, cached = usage_keys.cached + excluded.cached,
                saved = usage_keys.saved + excluded.saved,
                first_seen = \(least)(usage_keys.first_seen, excluded.first_seen),
                last_seen = \(greatest)(usage_keys.last_seen, excluded.last_seen)
            """
        return ReportSQL(sql: sql, binds: binds, dimensions: [])
    }

    /// The statements that add `tally`, at most ``rowsPerUpsert`` rows each, in the tables' key order.
    static func upserts(_ tally: UsageTally, _ dialect: Dialect) -> [ReportSQL] {
        var statements: [ReportSQL] = []
        let counts = tally.counts, keys = tally.keyCounts
        for start in stride(from: 0, to: counts.count, by: rowsPerUpsert) {
            statements.append(upsert(counts[start..<min(start + rowsPerUpsert, counts.count)], dialect))
        }
        for start in stride(from: 0, to: keys.count, by: rowsPerUpsert) {
            statements.append(upsert(keys[start..<min(start + rowsPerUpsert, keys.count)], dialect))
        }
        return statements
    }

    /// `(?, ?, …)` or `($n, $n+1, …)` for one row of `count` values whose binds follow the first `before`.
    private static func placeholders(_ count: Int, after before: Int, _ dialect: Dialect) -> String {
        "(" + (1...count).map { dialect == .sqlite ? "?" : "$\(before + $0)" }.joined(separator: ", ") + ")"
    }
}
