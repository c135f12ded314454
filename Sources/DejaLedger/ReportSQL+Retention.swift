/// The statements that delete usage past its retention in small steps, oldest first; the same for both
/// backends but for placeholders.
extension ReportSQL {
    /// Records of `table` (`usage`, or one of its PostgreSQL partitions) answered before `before` among its
    /// `limit` oldest by id: ids follow time to within a moment, so a window of ids that holds none is
    /// where the young records start.
    static func purgeRecords(_ table: String = "usage", before: Double, limit: Int, _ dialect: Dialect) -> ReportSQL {
        let (window, time) = dialect == .sqlite ? ("?", "?") : ("$1", "$2")
        return ReportSQL(
            sql: """
                DELETE FROM \(table) WHERE id IN (
                    SELECT id FROM \(table) WHERE id < (SELECT min(id) FROM \(table)) + \(window) AND time < \(time)
                ) RETURNING 1
                """,
            binds: [.integer(Int64(limit)), .double(before)], dimensions: []
        )
    }

    /// Up to `limit` rows of `table` (`usage_hourly`, `usage_keys` or `usage_records_hourly`) of its oldest hour, if that hour
    /// started before `before`.
    static func purgeCounts(_ table: String, key: String, before: Double, limit: Int, _ dialect: Dialect) -> ReportSQL {
        let (time, count) = dialect == .sqlite ? ("?", "?") : ("$1", "$2")
        return ReportSQL(
            sql: """
                DELETE FROM \(table) WHERE (\(key)) IN (
                    SELECT \(key) FROM \(table) WHERE hour = (SELECT min(hour) FROM \(table)) AND hour < \(time) LIMIT \(count)
                ) RETURNING 1
                """,
            binds: [.double(before), .integer(Int64(limit))], dimensions: []
        )
    }

    /// The steps of one ``Ledger/purgeUsage(recordsBefore:countsBefore:limit:)`` call: records of
    /// `recordTables` answered before `recordsBefore` and the hourly counts of records of hours that ended by
    /// then, and hourly counts of hours that started before `countsBefore`.
    static func purges(
        recordTables: [String] = ["usage"], recordsBefore: Double?, countsBefore: Double?, limit: Int, _ dialect: Dialect
    ) -> [ReportSQL] {
        var statements: [ReportSQL] = []
        if let recordsBefore {
            for table in recordTables { statements.append(purgeRecords(table, before: recordsBefore, limit: limit, dialect)) }
            statements.append(purgeCounts("usage_records_hourly", key: "tenant, hour, key_id, task, outcome, status",
                                          before: UsageCount.hour(of: recordsBefore), limit: limit, dialect))
        }
        if let countsBefore {
            statements.append(purgeCounts("usage_hourly", key: "tenant, hour, key_id, task, outcome, status",
                                          before: countsBefore, limit: limit, dialect))
            statements.append(purgeCounts("usage_keys", key: "tenant, hour, task, content_key", before: countsBefore, limit: limit, dialect))
        }
        return statements
    }
}
