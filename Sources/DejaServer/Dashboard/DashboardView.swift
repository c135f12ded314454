import DejaCache
import DejaCore
import DejaGateway
import DejaLedger

/// What the dashboard's templates render. Mustache reads stored properties by name, so every figure is
/// here already formatted (`value`) and raw (`raw`, in `data-value` attributes a test or a script can
/// read back).
struct DashboardView: Sendable {
    /// A figure in a card or a table cell.
    struct Figure: Sendable {
        var field: String
        var label: String
        var raw: String
        var value: String
    }

    struct Link: Sendable {
        var href: String
        var label: String
        var current: Bool
    }

    struct Option: Sendable {
        var value: String
        var label: String
        var selected: Bool
    }

    struct Hidden: Sendable {
        var name: String
        var value: String
    }

    struct TaskRow: Sendable {
        var name: String
        var cells: [Figure]
    }

    struct Repeated: Sendable {
        var key: String
        var prefix: String
        var href: String
        var task: String
        var requests: Int64
        var requestsText: String
        var cached: Int64
        var cachedText: String
        var saved: Int64
        var savedText: String
        var firstSeen: String
        var lastSeen: String
    }

    struct ErrorKind: Sendable {
        var task: String
        var status: Int
        var kind: String
        var count: Int64
        var countText: String
    }

    struct LegendEntry: Sendable {
        var name: String
        var cssClass: String
    }

    /// The cache and model servers: the admin's view only (they are shared by every tenant).
    struct Operations: Sendable {
        struct Memory: Sendable {
            var budget: Int
            var used: Int
            var budgetText: String
            var usedText: String
            var entries: String
        }

        struct Redis: Sendable {
            var limited: Bool
            var max: Int64
            var used: Int64
            var maxText: String
            var usedText: String
        }

        struct Server: Sendable {
            var task: String
            var url: String
            var health: String
            var healthClass: String
            var breaker: String
            var breakerClass: String
        }

        var memory: Memory?
        var store: String
        var redis: Redis?
        var servers: [Server]
    }

    var l: DashboardLabels
    var isAdmin: Bool
    var tenantName: String
    var tenantValue: String
    var periods: [Link]
    var refreshLink: String
    var refreshState: String
    var langLink: String
    var hidden: [Hidden]
    var tenants: [Option]
    var from: String
    var to: String
    var periodText: String
    var cards: [Figure]
    var requestsChart: String
    var tokensChart: String
    var requestLegend: [LegendEntry]
    var tokenLegend: [LegendEntry]
    var columns: [String]
    var hasTasks: Bool
    var tasks: [TaskRow]
    var total: TaskRow
    var hasRepeated: Bool
    var repeated: [Repeated]
    var hasErrors: Bool
    var errors: [ErrorKind]
    var operations: Operations?
}

extension DashboardView {
    /// The figures of one report row, labelled, in the table's column order: what `/v1/usage` reports for it.
    static func figures(_ row: UsageRow, _ l: DashboardLabels) -> [Figure] {
        func count(_ field: String, _ label: String, _ value: Int64) -> Figure {
            Figure(field: field, label: label, raw: "\(value)", value: DashboardFormat.grouped(value))
        }
        return [
            count("requests", l.requests, row.requests),
            count("hits", l.hits, row.hits),
            count("coalesced", l.coalesced, row.coalesced),
            count("misses", l.misses, row.misses),
            count("errors", l.errors, row.errors),
            Figure(field: "hitRatio", label: l.hitRatio, raw: "\(row.hitRatio)", value: DashboardFormat.percent(row.hitRatio)),
            count("billedTokens", l.billedTokens, row.billedTokens),
            count("savedTokens", l.savedTokens, row.savedTokens),
            Figure(field: "modelSecondsSaved", label: l.modelTimeSaved, raw: "\(row.modelSecondsSaved)",
                   value: DashboardFormat.duration(row.modelSecondsSaved)),
        ]
    }

    /// The summary cards: six of the totals' figures.
    static func cards(_ totals: UsageRow, _ l: DashboardLabels) -> [Figure] {
        let figures = figures(totals, l)
        return ["requests", "hitRatio", "billedTokens", "savedTokens", "modelSecondsSaved", "errors"].compactMap { field in
            figures.first { $0.field == field }
        }
    }

    /// The totals as a report row, for the table's footer.
    static func totalRow(_ totals: UsageReport.Totals) -> UsageRow {
        UsageRow(tenant: nil, task: "", day: "", requests: totals.requests, hits: totals.hits, coalesced: totals.coalesced,
                 misses: totals.misses, errors: totals.errors, billedTokens: totals.billedTokens, savedTokens: totals.savedTokens,
                 modelSecondsSaved: totals.modelSecondsSaved, hitRatio: totals.hitRatio)
    }

    /// The two charts over the period's buckets, from rows grouped by hour or by day.
    static func charts(_ rows: [UsageRow], period: DashboardPeriod, _ l: DashboardLabels) -> (requests: BarChart, tokens: BarChart) {
        var byGroup: [String: UsageRow] = [:]
        for row in rows { byGroup[period.bucket == .hour ? row.hour ?? "" : row.day] = row }
        let starts = period.starts
        let buckets = starts.map { byGroup[period.groupName($0)] }
        func values(_ figure: (UsageRow) -> Int64) -> [Double] { buckets.map { $0.map { Double(figure($0)) } ?? 0 } }
        let labels = starts.map(period.label)
        let requests = BarChart(labels: labels, series: [
            .init(name: l.hits, cssClass: "hit", values: values { $0.hits + $0.coalesced }),
            .init(name: l.misses, cssClass: "miss", values: values(\.misses)),
            .init(name: l.other, cssClass: "other", values: values { $0.requests - $0.hits - $0.coalesced - $0.misses - $0.errors }),
            .init(name: l.errors, cssClass: "err", values: values(\.errors)),
        ], title: l.requestsChart)
        let tokens = BarChart(labels: labels, series: [
            .init(name: l.billedTokens, cssClass: "billed", values: values(\.billedTokens)),
            .init(name: l.savedTokens, cssClass: "saved", values: values(\.savedTokens)),
        ], title: l.tokensChart)
        return (requests, tokens)
    }

    static func repeated(_ key: RepeatedKey, href: String) -> Repeated {
        Repeated(
            key: key.key.hex, prefix: String(key.key.hex.prefix(16)), href: href, task: key.task,
            requests: key.requests, requestsText: DashboardFormat.grouped(key.requests),
            cached: key.cached, cachedText: DashboardFormat.grouped(key.cached),
            saved: key.savedTokens, savedText: DashboardFormat.grouped(key.savedTokens),
            firstSeen: DashboardFormat.time(key.firstSeen), lastSeen: DashboardFormat.time(key.lastSeen))
    }

    /// Error rows (status 400 and above) of a report grouped by task and status, most frequent first.
    static func errorKinds(_ rows: [UsageRow], _ l: DashboardLabels) -> [ErrorKind] {
        rows.compactMap { row in
            guard let status = row.status, status >= 400 else { return nil }
            return ErrorKind(task: row.task, status: status, kind: l.errorKind(status), count: row.requests,
                             countText: DashboardFormat.grouped(row.requests))
        }.sorted { ($0.count, $1.task, $1.status) > ($1.count, $0.task, $0.status) }
    }

    /// Each model server of each task (and gray release candidate): its last health check and its breaker.
    static func servers(_ tasks: [TaskRuntime], _ l: DashboardLabels) -> [Operations.Server] {
        tasks.flatMap(\.modelServerGroups).flatMap { group, pool in
            pool.members.map { server in
                let (breaker, breakerClass): (String, String) = switch server.breaker.state {
                case .closed: ("closed", "good")
                case .halfOpen: ("half-open", "bad")
                case .open: ("open", "bad")
                }
                let (health, healthClass): (String, String) = server.healthURL == nil
                    ? ("—", "")
                    : server.isUp ? ("up", "good") : ("down", "bad")
                return Operations.Server(task: group, url: server.url, health: health, healthClass: healthClass,
                                         breaker: breaker, breakerClass: breakerClass)
            }
        }
    }

    /// `12.3 MiB`.
    static func bytes(_ count: Int64) -> String {
        let units: [(Double, String)] = [(Double(1 << 30), "GiB"), (Double(1 << 20), "MiB"), (Double(1 << 10), "KiB")]
        for (size, unit) in units where Double(count) >= size {
            return DashboardFormat.oneDecimal(Double(count) / size) + " " + unit
        }
        return "\(count) B"
    }
}
