import ArgumentParser
import DejaLedger
import DejaServer
import Foundation

struct Usage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report usage per tenant, task and day: requests, hits, hit ratio, tokens billed and saved."
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "Only this tenant (default: every tenant).")
    var tenant: String?

    @Option(help: "First day, YYYY-MM-DD (UTC).")
    var from: String?

    @Option(help: "Last day, YYYY-MM-DD (UTC), inclusive.")
    var to: String?

    @Option(name: .customLong("group-by"), help: "Rows per these, comma-separated: tenant, task, day, hour, key, status (default: tenant,task,day).")
    var groupBy: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "Export as CSV for an invoice: a line per billed answer and per hour of unbilled requests (a column counts them).")
    var csv = false

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv cannot be combined") }
        if let groupBy, UsageDimension.list(groupBy) == nil {
            throw ValidationError("--group-by takes a comma-separated list of \(UsageDimension.names); not '\(groupBy)'")
        }
    }

    func run() async throws {
        let fromTime = try Self.day(from, name: "--from", endOfDay: false)
        let toTime = try Self.day(to, name: "--to", endOfDay: true)
        let dimensions = groupBy.flatMap(UsageDimension.list) ?? UsageQuery.defaultGroupBy
        let query = UsageQuery(tenant: tenant, from: fromTime, to: toTime, groupBy: dimensions)
        try await withLedger(options) { ledger in
            if csv {
                print(UsageCSV.render(try await ledger.records(query), counts: try await ledger.counts(query)), terminator: "")
                return
            }
            let rows = try await ledger.usage(query)
            let report = UsageReport(tenant: tenant, rows: rows)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            // One column per grouping dimension, in the order asked for, then the counts.
            let names: [UsageDimension: String] = [.tenant: "TENANT", .task: "TASK", .day: "DAY", .key: "KEY", .hour: "HOUR", .status: "STATUS"]
            let header = dimensions.map { names[$0]! }
                + ["REQUESTS", "HITS", "COALESCED", "MISSES", "ERRORS", "HIT RATIO", "BILLED", "SAVED", "MODEL S SAVED"]
            var lines = rows.map { row in
                dimensions.map { dimension -> String in
                    switch dimension {
                    case .tenant: row.tenant ?? tenant ?? "-"
                    case .task: row.task
                    case .day: row.day
                    case .key: row.keyID ?? "-"
                    case .hour: row.hour ?? "-"
                    case .status: row.status.map(String.init) ?? "-"
                    }
                } + [
                    "\(row.requests)", "\(row.hits)", "\(row.coalesced)", "\(row.misses)", "\(row.errors)",
                    Self.percent(row.hitRatio), "\(row.billedTokens)", "\(row.savedTokens)", String(format: "%.1f", row.modelSecondsSaved),
                ]
            }
            let t = report.totals
            lines.append(["TOTAL"] + Array(repeating: "", count: dimensions.count - 1) + [
                "\(t.requests)", "\(t.hits)", "\(t.coalesced)", "\(t.misses)", "\(t.errors)",
                Self.percent(t.hitRatio), "\(t.billedTokens)", "\(t.savedTokens)", String(format: "%.1f", t.modelSecondsSaved),
            ])
            print(Table.render(header: header, rows: lines))
        }
    }

    static func percent(_ ratio: Double) -> String { String(format: "%.1f%%", ratio * 100) }

    static func day(_ text: String?, name: String, endOfDay: Bool) throws -> Double? {
        guard let text else { return nil }
        guard let seconds = UsageDay.seconds(text, endOfDay: endOfDay) else {
            throw ValidationError("\(name) must be a date YYYY-MM-DD, not '\(text)'")
        }
        return seconds
    }
}
