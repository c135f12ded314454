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

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let fromTime = try Self.day(from, name: "--from", endOfDay: false)
        let toTime = try Self.day(to, name: "--to", endOfDay: true)
        try await withLedger(options) { ledger in
            let rows = try await ledger.usage(UsageQuery(tenant: tenant, from: fromTime, to: toTime))
            let report = UsageReport(tenant: tenant, rows: rows)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            let header = ["TENANT", "TASK", "DAY", "REQUESTS", "HITS", "COALESCED", "MISSES", "ERRORS", "HIT RATIO", "BILLED", "SAVED", "MODEL S SAVED"]
            var lines = rows.map { row in
                [row.tenant ?? tenant ?? "-", row.task, row.day, "\(row.requests)", "\(row.hits)", "\(row.coalesced)",
                 "\(row.misses)", "\(row.errors)", Self.percent(row.hitRatio), "\(row.billedTokens)", "\(row.savedTokens)",
                 String(format: "%.1f", row.modelSecondsSaved)]
            }
            let t = report.totals
            lines.append(["TOTAL", "", "", "\(t.requests)", "\(t.hits)", "\(t.coalesced)", "\(t.misses)", "\(t.errors)",
                          Self.percent(t.hitRatio), "\(t.billedTokens)", "\(t.savedTokens)", String(format: "%.1f", t.modelSecondsSaved)])
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
