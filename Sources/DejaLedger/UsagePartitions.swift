/// The monthly partitions of PostgreSQL's `usage` table, as a plan: which to add so records of this month and
/// the next have one, and which retention drops whole. Pure; ``PostgresLedger`` reads the catalogue into it
/// and runs what it decides.
struct UsagePartitions: Equatable {
    /// A partition of `usage`: `[from, to)` of `time` (`nil` for MINVALUE / MAXVALUE); the default
    /// partition is not listed.
    struct Partition: Equatable {
        var name: String
        var from: Double?
        var to: Double?

        /// Parses `pg_get_expr(relpartbound, oid)`, e.g. `FOR VALUES FROM (MINVALUE) TO ('1767225600')`;
        /// nil for `DEFAULT` and anything else.
        init?(name: String, bound: String) {
            guard bound.hasPrefix("FOR VALUES FROM ("), let middle = bound.range(of: ") TO (") else { return nil }
            let low = bound[bound.index(bound.startIndex, offsetBy: 17)..<middle.lowerBound]
            let high = bound[middle.upperBound...].dropLast()
            func value(_ text: Substring) -> Double?? {
                if text == "MINVALUE" || text == "MAXVALUE" { return .some(nil) }
                let unquoted = text.hasPrefix("'") && text.hasSuffix("'") && text.count >= 2 ? text.dropFirst().dropLast() : text
                return Double(unquoted).map { .some($0) }
            }
            guard bound.hasSuffix(")"), let from = value(low), let to = value(high) else { return nil }
            self.init(name: name, from: from, to: to)
        }

        init(name: String, from: Double?, to: Double?) {
            self.name = name
            self.from = from
            self.to = to
        }

        func overlaps(from start: Double, to end: Double) -> Bool {
            (from ?? -.infinity) < end && (to ?? .infinity) > start
        }
    }

    var partitions: [Partition]

    /// The partitions to add so that the month holding `time` and the next one are covered: each named for
    /// its month (`usage_2027_01`), from the month's start — or from where the last partition ending inside
    /// it ends — to the month's end. A month whose rest another partition still overlaps is left to the default.
    func missing(at time: Double) -> [Partition] {
        var added: [Partition] = []
        guard let this = QuotaPeriod.month.window(containing: time), let next = QuotaPeriod.month.window(containing: this.end) else {
            return []
        }
        for month in [this, next] {
            let existing = partitions + added
            let start = existing.compactMap(\.to).filter { $0 > month.start && $0 < month.end }.max() ?? month.start
            guard !existing.contains(where: { $0.overlaps(from: start, to: month.end) }) else { continue }
            added.append(Partition(name: Self.name(month: month.start), from: start, to: month.end))
        }
        return added
    }

    /// The partitions whose every record was answered before `cutoff`, oldest first.
    func expired(before cutoff: Double) -> [Partition] {
        partitions.filter { ($0.to ?? .infinity) <= cutoff }.sorted { ($0.to ?? .infinity) < ($1.to ?? .infinity) }
    }

    /// Where PostgreSQL's record retention cuts: the start of the month holding `recordsBefore`. A month's
    /// records go together, when the whole month is past retention.
    static func cutoff(recordsBefore: Double) -> Double {
        QuotaPeriod.month.window(containing: recordsBefore)?.start ?? recordsBefore
    }

    /// `usage_YYYY_MM` for the month starting at `start`.
    static func name(month start: Double) -> String {
        let (year, month, _) = QuotaPeriod.civil(fromDays: Int64((start / 86_400).rounded(.down)))
        return "usage_\(year)_\(month < 10 ? "0" : "")\(month)"
    }
}
