/// The report and export SQL both backends run; they differ only in placeholders and the UTC-day expression.
struct ReportSQL {
    enum Dialect { case sqlite, postgres }
    enum Value { case text(String), double(Double), bytes([UInt8]) }

    var sql: String
    var binds: [Value]
    /// The grouping columns the result carries, deduplicated, in `groupBy` order.
    var dimensions: [UsageDimension]

    static let recordColumns = "time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds, content_key"

    /// `WHERE …` for a query's tenant and time range, and its binds.
    static func filter(_ query: UsageQuery, _ dialect: Dialect) -> (String, [Value]) {
        var conditions: [String] = []
        var binds: [Value] = []
        func placeholder() -> String { dialect == .sqlite ? "?" : "$\(binds.count)" }
        if let tenant = query.tenant {
            binds.append(.text(tenant))
            conditions.append("tenant = \(placeholder())")
        }
        if let from = query.from {
            binds.append(.double(from))
            conditions.append("time >= \(placeholder())")
        }
        if let to = query.to {
            binds.append(.double(to))
            conditions.append("time < \(placeholder())")
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), binds)
    }

    /// The aggregate report.
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
        let (filter, binds) = filter(query, dialect)
        let cached = "outcome IN ('hit', 'coalesced', 'stale')"
        func count(_ outcome: String) -> String {
            "CAST(coalesce(sum(CASE WHEN outcome = '\(outcome)' THEN 1 ELSE 0 END), 0) AS BIGINT)"
        }
        let selected = dimensions.map(column) + [
            "CAST(count(*) AS BIGINT) AS requests",
            "\(count("hit")) AS hits",
            "\(count("coalesced")) AS coalesced",
            "\(count("miss")) AS misses",
            "\(count("error")) AS errors",
            "CAST(coalesce(sum(billed), 0) AS BIGINT) AS billed",
            "CAST(coalesce(sum(CASE WHEN \(cached) THEN metered - billed ELSE 0 END), 0) AS BIGINT) AS saved",
            "CAST(coalesce(sum(CASE WHEN \(cached) THEN model_seconds ELSE 0 END), 0) AS DOUBLE PRECISION) AS model_seconds_saved",
        ]
        var sql = "SELECT \(selected.joined(separator: ", ")) FROM usage \(filter)"
        if !dimensions.isEmpty {
            sql += " GROUP BY \(orderNames.joined(separator: ", ")) ORDER BY \(orderNames.joined(separator: ", "))"
        }
        return ReportSQL(sql: sql, binds: binds, dimensions: dimensions)
    }

    /// The records export, ordered by time (then insertion).
    static func records(_ query: UsageQuery, _ dialect: Dialect) -> ReportSQL {
        let (filter, binds) = filter(query, dialect)
        return ReportSQL(sql: "SELECT \(recordColumns) FROM usage \(filter) ORDER BY time, id", binds: binds, dimensions: [])
    }

    /// The most repeated content keys in the query's records: answered requests (errors left out) per
    /// key and task, most first, then most recently seen.
    static func repeatedKeys(_ query: RepeatedKeysQuery, _ dialect: Dialect) -> ReportSQL {
        var (filter, binds) = filter(UsageQuery(tenant: query.tenant, from: query.from, to: query.to), dialect)
        var conditions = ["content_key IS NOT NULL", "outcome <> 'error'"]
        if let task = query.task {
            binds.append(.text(task))
            conditions.append("task = \(dialect == .sqlite ? "?" : "$\(binds.count)")")
        }
        if let key = query.key {
            binds.append(.bytes(key.bytes))
            conditions.append("content_key = \(dialect == .sqlite ? "?" : "$\(binds.count)")")
        }
        filter = (filter.isEmpty ? "WHERE " : filter + " AND ") + conditions.joined(separator: " AND ")
        let cached = "outcome IN ('hit', 'coalesced', 'stale')"
        let sql = """
            SELECT content_key, task, CAST(count(*) AS BIGINT) AS requests,
                CAST(coalesce(sum(CASE WHEN \(cached) THEN 1 ELSE 0 END), 0) AS BIGINT) AS cached,
                min(time) AS first_seen, max(time) AS last_seen,
                CAST(coalesce(sum(CASE WHEN \(cached) THEN metered - billed ELSE 0 END), 0) AS BIGINT) AS saved
            FROM usage \(filter)
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
