/// The report and export SQL both backends run; they differ only in placeholders and the UTC-day expression.
///
/// Reports read the `usage` records and the hourly counts (``UsageTally``) together: every request is in
/// exactly one of them.
struct ReportSQL {
    enum Dialect { case sqlite, postgres }
    enum Value { case text(String), double(Double), integer(Int64), bytes([UInt8]) }

    var sql: String
    var binds: [Value]
    /// The grouping columns the result carries, deduplicated, in `groupBy` order.
    var dimensions: [UsageDimension]

    static let recordColumns = "time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds, content_key"

    /// The conditions for a query's tenant and time range, on the column `time`; appends their binds.
    static func conditions(_ query: UsageQuery, _ dialect: Dialect, time: String = "time", binds: inout [Value]) -> [String] {
        var conditions: [String] = []
        if let tenant = query.tenant {
            binds.append(.text(tenant))
            conditions.append("tenant = \(placeholder(dialect, binds))")
        }
        return conditions + bounds(time, from: query.from, to: query.to, dialect, binds: &binds)
    }

    /// `column >= from` and `column < to` for the bounds given; appends their binds.
    static func bounds(_ column: String, from: Double?, to: Double?, _ dialect: Dialect, binds: inout [Value]) -> [String] {
        var conditions: [String] = []
        if let from {
            binds.append(.double(from))
            conditions.append("\(column) >= \(placeholder(dialect, binds))")
        }
        if let to {
            binds.append(.double(to))
            conditions.append("\(column) < \(placeholder(dialect, binds))")
        }
        return conditions
    }

    /// `WHERE …` for `conditions`, or nothing.
    static func `where`(_ conditions: [String]) -> String {
        conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
    }

    /// The aggregate report, over the billed records (``HourSplit``) and the hourly counts of what billed
    /// nothing together: an hour's count of those is in a range when the hour starts in it.
    static func usage(_ query: UsageQuery, _ dialect: Dialect) -> ReportSQL {
        var dimensions: [UsageDimension] = []
        for dimension in query.groupBy where !dimensions.contains(dimension) { dimensions.append(dimension) }
        let day = dialect == .sqlite
            ? "date(time, 'unixepoch')"
            : "to_char(to_timestamp(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        let hour = dialect == .sqlite
            ? "strftime('%Y-%m-%dT%H:00Z', time, 'unixepoch')"
            : #"to_char(to_timestamp(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24":00Z"')"#
        func column(_ dimension: UsageDimension) -> String {
            switch dimension {
            case .tenant: "tenant"
            case .task: "task"
            case .day: "\(day) AS day"
            case .key: "key_id"
            case .hour: "\(hour) AS hour"
            case .status: "status"
            }
        }
        let ordered: [UsageDimension] = [.day, .hour, .tenant, .task, .key, .status].filter(dimensions.contains)
        let orderNames = ordered.map { $0 == .key ? "key_id" : $0.rawValue }
        func count(_ outcome: String) -> String {
            "CAST(coalesce(sum(CASE WHEN outcome = '\(outcome)' THEN n ELSE 0 END), 0) AS BIGINT)"
        }
        let selected = dimensions.map(column) + [
            "CAST(coalesce(sum(n), 0) AS BIGINT) AS requests",
            "\(count("hit")) AS hits",
            "\(count("coalesced")) AS coalesced",
            "\(count("miss")) AS misses",
            "\(count("error")) AS errors",
            "CAST(coalesce(sum(billed_n), 0) AS BIGINT) AS billed",
            "CAST(coalesce(sum(saved_n), 0) AS BIGINT) AS saved",
            "CAST(coalesce(sum(seconds_saved_n), 0) AS DOUBLE PRECISION) AS model_seconds_saved",
        ]
        // Billed records: counted per hour for the range's whole hours, read one by one at its ends.
        var binds: [Value] = []
        var sources: [String] = []
        let split = HourSplit(from: query.from, to: query.to)
        let tenantOnly = UsageQuery(tenant: query.tenant)
        if !split.edges.isEmpty {
            var filter = conditions(tenantOnly, dialect, binds: &binds)
            if let edges = edgeCondition(split, dialect, binds: &binds) { filter.append(edges) }
            sources.append("""
                SELECT time, tenant, key_id, task, outcome, status, 1 AS n, billed AS billed_n,
                    CASE WHEN \(cached) THEN metered - billed ELSE 0 END AS saved_n,
                    CASE WHEN \(cached) THEN model_seconds ELSE 0 END AS seconds_saved_n
                FROM usage \(`where`(filter))
                """)
        }
        if let hours = split.hours {
            let filter = conditions(tenantOnly, dialect, binds: &binds) + bounds("hour", from: hours.from, to: hours.to, dialect, binds: &binds)
            sources.append("""
                SELECT \(countsAsRecords) FROM usage_records_hourly \(`where`(filter))
                """)
        }
        // Requests that billed nothing, counted per hour: an hour is in the range when it starts in it.
        sources.append("""
            SELECT \(countsAsRecords) FROM usage_hourly \(`where`(conditions(query, dialect, time: "hour", binds: &binds)))
            """)
        var sql = """
            SELECT \(selected.joined(separator: ", ")) FROM (
            \(sources.joined(separator: "\nUNION ALL\n"))
            ) AS answered
            """
        if !dimensions.isEmpty {
            sql += " GROUP BY \(orderNames.joined(separator: ", ")) ORDER BY \(orderNames.joined(separator: ", "))"
        }
        return ReportSQL(sql: sql, binds: binds, dimensions: dimensions)
    }

    /// An hourly count's columns under the names the report's records have.
    static let countsAsRecords = """
        hour AS time, tenant, key_id, task, outcome, status, requests AS n, billed AS billed_n, saved AS saved_n,
        model_seconds_saved AS seconds_saved_n
        """

    /// Outcomes whose answer came from a stored or shared answer (``Outcome/isServedFromCache``).
    static let cached = "outcome IN ('hit', 'coalesced', 'stale')"

    /// The records export, ordered by time (then insertion).
    static func records(_ query: UsageQuery, _ dialect: Dialect) -> ReportSQL {
        var binds: [Value] = []
        let filter = `where`(conditions(query, dialect, binds: &binds))
        return ReportSQL(sql: "SELECT \(recordColumns) FROM usage \(filter) ORDER BY time, id", binds: binds, dimensions: [])
    }

    static let countColumns = "hour, tenant, key_id, task, outcome, status, requests, metered, billed, saved, model_seconds_saved"

    /// The hourly counts export, in the order of the table's key.
    static func counts(_ query: UsageQuery, _ dialect: Dialect) -> ReportSQL {
        var binds: [Value] = []
        let filter = `where`(conditions(query, dialect, time: "hour", binds: &binds))
        return ReportSQL(
            sql: "SELECT \(countColumns) FROM usage_hourly \(filter) ORDER BY hour, tenant, key_id, task, outcome, status",
            binds: binds, dimensions: []
        )
    }

    /// The most repeated content keys among the query's records and key counts: answered requests (errors
    /// left out) per key and task, most first, then most recently seen.
    static func repeatedKeys(_ query: RepeatedKeysQuery, _ dialect: Dialect) -> ReportSQL {
        var binds: [Value] = []
        func narrowed(time: String, _ extra: [String]) -> String {
            var conditions = conditions(UsageQuery(tenant: query.tenant, from: query.from, to: query.to), dialect, time: time, binds: &binds)
            conditions += extra
            if let task = query.task {
                binds.append(.text(task))
                conditions.append("task = \(dialect == .sqlite ? "?" : "$\(binds.count)")")
            }
            if let key = query.key {
                binds.append(.bytes(key.bytes))
                conditions.append("content_key = \(dialect == .sqlite ? "?" : "$\(binds.count)")")
            }
            return `where`(conditions)
        }
        let records = narrowed(time: "time", ["content_key IS NOT NULL", "outcome <> 'error'"])
        let counts = narrowed(time: "hour", [])
        let sql = """
            SELECT content_key, task, CAST(sum(n) AS BIGINT) AS requests, CAST(sum(cached_n) AS BIGINT) AS cached,
                min(first_seen) AS first_seen, max(last_seen) AS last_seen, CAST(sum(saved_n) AS BIGINT) AS saved
            FROM (
                SELECT content_key, task, 1 AS n, CASE WHEN \(cached) THEN 1 ELSE 0 END AS cached_n,
                    time AS first_seen, time AS last_seen, CASE WHEN \(cached) THEN metered - billed ELSE 0 END AS saved_n
                FROM usage \(records)
                UNION ALL
                SELECT content_key, task, requests, cached, first_seen, last_seen, saved FROM usage_keys \(counts)
            ) AS asked
            GROUP BY content_key, task
            ORDER BY requests DESC, last_seen DESC
            LIMIT \(max(0, query.limit))
            """
        return ReportSQL(sql: sql, binds: binds, dimensions: [])
    }

    /// A report row from its aggregates; nil for the empty group an ungrouped query returns over no records.
    static func row(
        dimensions: [UsageDimension],
        tenant: String?, task: String?, day: String?, keyID: String?, hour: String?, status: Int64?,
        requests: Int64, hits: Int64, coalesced: Int64, misses: Int64, errors: Int64,
        billed: Int64, saved: Int64, modelSecondsSaved: Double
    ) -> UsageRow? {
        guard requests > 0 else { return nil }
        let answered = requests - errors
        return UsageRow(
            tenant: dimensions.contains(.tenant) ? tenant : nil,
            task: dimensions.contains(.task) ? task ?? "" : "",
            day: dimensions.contains(.day) ? day ?? "" : "",
            requests: requests,
            hits: hits,
            coalesced: coalesced,
            misses: misses,
            errors: errors,
            billedTokens: billed,
            savedTokens: saved,
            modelSecondsSaved: modelSecondsSaved,
            hitRatio: answered > 0 ? Double(hits + coalesced) / Double(answered) : 0,
            keyID: dimensions.contains(.key) ? keyID : nil,
            hour: dimensions.contains(.hour) ? hour : nil,
            status: dimensions.contains(.status) ? status.map(Int.init) : nil
        )
    }
}
