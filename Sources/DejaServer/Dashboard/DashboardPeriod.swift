import DejaGateway

/// The time range the dashboard shows and the buckets its charts draw.
///
/// A named period ends at the end of the current hour (`24h`, hourly bars) or the current UTC day
/// (`7d`, `30d`, daily bars), so each bar is one whole ledger group; a range of days (`from`, `to`,
/// `YYYY-MM-DD`, inclusive, as `/v1/usage` takes them) draws hourly bars up to two days and daily bars
/// beyond. `from` is inclusive and `to` exclusive, in seconds since 1970, as in ``DejaLedger/UsageQuery``.
struct DashboardPeriod: Sendable, Equatable {
    /// What one bar covers.
    enum Bucket: Sendable, Equatable {
        case hour, day

        var seconds: Double { self == .hour ? 3600 : 86_400 }
    }

    /// `24h`, `7d`, `30d`, or `days` for a range of days.
    var name: String
    var from: Double
    var to: Double
    var bucket: Bucket

    /// The longest range of days the dashboard draws.
    static let maxDays = 366

    /// The period a request asks for; the last 24 hours by default.
    static func parse(period: String?, from: String?, to: String?, now: Double) throws -> DashboardPeriod {
        if from != nil || to != nil {
            guard let fromText = from, let start = UsageDay.seconds(fromText, endOfDay: false) else {
                throw GatewayError(.badRequest, "query parameter 'from' must be a date YYYY-MM-DD, not '\(from ?? "")' (give 'from' and 'to' together)")
            }
            guard let toText = to, let end = UsageDay.seconds(toText, endOfDay: true) else {
                throw GatewayError(.badRequest, "query parameter 'to' must be a date YYYY-MM-DD, not '\(to ?? "")' (give 'from' and 'to' together)")
            }
            guard end > start, end - start <= Double(maxDays) * 86_400 else {
                throw GatewayError(.badRequest, "query parameters 'from' and 'to' must name 1 to \(maxDays) days, 'from' first")
            }
            return DashboardPeriod(name: "days", from: start, to: end, bucket: end - start <= 2 * 86_400 ? .hour : .day)
        }
        let endOfHour = ((now / 3600).rounded(.down) + 1) * 3600
        let endOfDay = ((now / 86_400).rounded(.down) + 1) * 86_400
        switch period ?? "24h" {
        case "24h": return DashboardPeriod(name: "24h", from: endOfHour - 86_400, to: endOfHour, bucket: .hour)
        case "7d": return DashboardPeriod(name: "7d", from: endOfDay - 7 * 86_400, to: endOfDay, bucket: .day)
        case "30d": return DashboardPeriod(name: "30d", from: endOfDay - 30 * 86_400, to: endOfDay, bucket: .day)
        case let other:
            throw GatewayError(.badRequest, "query parameter 'period' is 24h, 7d or 30d, not '\(other)'")
        }
    }

    /// The start of each bar, oldest first.
    var starts: [Double] {
        Array(stride(from: from, to: to, by: bucket.seconds))
    }

    /// The ledger's name for the group starting at `start`: the `hour` (`YYYY-MM-DDTHH:00Z`) or `day`
    /// (`YYYY-MM-DD`) of a ``DejaLedger/UsageRow``.
    func groupName(_ start: Double) -> String {
        let parts = DashboardFormat.utc(start)
        let day = DashboardFormat.day(start)
        return bucket == .hour ? "\(day)T\(DashboardFormat.two(parts.tm_hour)):00Z" : day
    }

    /// The label under a bar: `17:00` or `12-03`.
    func label(_ start: Double) -> String {
        let parts = DashboardFormat.utc(start)
        return bucket == .hour
            ? "\(DashboardFormat.two(parts.tm_hour)):00"
            : "\(DashboardFormat.two(parts.tm_mon + 1))-\(DashboardFormat.two(parts.tm_mday))"
    }
}
