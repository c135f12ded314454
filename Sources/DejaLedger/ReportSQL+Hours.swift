/// Where reports and quotas read billed records from: the hourly record counts (`usage_records_hourly`,
/// kept by a trigger in the inserting transaction) for every whole UTC hour of a range, the records
/// themselves only for the pieces of hours at its ends. A month for one tenant is then ~720 rows per key
/// and outcome however many answers it billed.
extension ReportSQL {
    /// A time range `[from, to)` cut at UTC hours.
    struct HourSplit: Equatable {
        /// The hours to read from the counts: those starting in `[from, to)` (`nil`: unbounded); `nil`
        /// when the range holds no whole hour.
        var hours: Bounds?
        /// The pieces read from the records, at most two.
        var edges: [Bounds]

        struct Bounds: Equatable {
            var from: Double?
            var to: Double?
        }

        static let hour = 3600.0

        init(from: Double?, to: Double?) {
            let firstWhole = from.map { ($0 / Self.hour).rounded(.up) * Self.hour }
            let endOfWhole = to.map(UsageCount.hour(of:))
            if let firstWhole, let endOfWhole, firstWhole >= endOfWhole {
                // No whole hour inside: the records alone (a range of under two hours).
                hours = nil
                edges = [Bounds(from: from, to: to)]
                return
            }
            hours = Bounds(from: firstWhole, to: endOfWhole)
            edges = []
            if let from, let firstWhole, from < firstWhole { edges.append(Bounds(from: from, to: firstWhole)) }
            if let to, let endOfWhole, endOfWhole < to { edges.append(Bounds(from: endOfWhole, to: to)) }
        }
    }

    /// `(time >= … AND time < …) OR …` for the split's edges, on the records' `time`; appends its binds.
    static func edgeCondition(_ split: HourSplit, _ dialect: Dialect, binds: inout [Value]) -> String? {
        guard !split.edges.isEmpty else { return nil }
        let pieces = split.edges.map { edge in
            let conditions = bounds("time", from: edge.from, to: edge.to, dialect, binds: &binds)
            return conditions.isEmpty ? "TRUE" : "(" + conditions.joined(separator: " AND ") + ")"
        }
        return "(" + pieces.joined(separator: " OR ") + ")"
    }

    /// The placeholder for the bind just appended.
    static func placeholder(_ dialect: Dialect, _ binds: [Value]) -> String {
        dialect == .sqlite ? "?" : "$\(binds.count)"
    }

    /// An SQL expression for the tokens billed to `tenant` (and `keyID`, if given) at `from ≤ time < to`:
    /// the hourly record counts of the whole hours plus the records of the pieces at the ends. Appends its binds.
    static func billed(tenant: String, keyID: String?, from: Double, to: Double?, _ dialect: Dialect, binds: inout [Value]) -> String {
        let split = HourSplit(from: from, to: to)
        func owner() -> [String] {
            var conditions = conditions(UsageQuery(tenant: tenant), dialect, binds: &binds)
            if let keyID {
                binds.append(.text(keyID))
                conditions.append("key_id = \(placeholder(dialect, binds))")
            }
            return conditions
        }
        var terms: [String] = []
        if let hours = split.hours {
            let conditions = owner() + bounds("hour", from: hours.from, to: hours.to, dialect, binds: &binds)
            terms.append("(SELECT coalesce(sum(billed), 0) FROM usage_records_hourly \(`where`(conditions)))")
        }
        if !split.edges.isEmpty {
            var conditions = owner()
            if let edges = edgeCondition(split, dialect, binds: &binds) { conditions.append(edges) }
            terms.append("(SELECT coalesce(sum(billed), 0) FROM usage \(`where`(conditions)))")
        }
        return terms.isEmpty ? "0" : terms.joined(separator: " + ")
    }
}
