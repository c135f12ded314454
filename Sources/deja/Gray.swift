import ArgumentParser
import DejaLedger
import DejaServer
import Foundation

struct Gray: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Gray releases: how a candidate model version's answers compare with the stable version's.",
        subcommands: [Report.self]
    )

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shadow comparisons per task and version pair: compared, agreed, agreement, and recent disagreements by key."
        )

        @OptionGroup var options: ConfigOptions

        @Option(help: "Only this task (default: every task).")
        var task: String?

        @Option(help: "Only comparisons this recent: a number of seconds, or with a unit s, m, h or d (e.g. 24h; default: all).")
        var since: String?

        @Option(help: "Disagreements to show per task and version pair (default 5).")
        var examples = 5

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func validate() throws {
            if let since, DurationText.seconds(since) == nil {
                throw ValidationError("--since takes a duration such as 3600, 90m, 24h or 7d; not '\(since)'")
            }
            guard examples >= 0 else { throw ValidationError("--examples must not be negative") }
        }

        func run() async throws {
            let now = Date().timeIntervalSince1970
            let query = GrayQuery(task: task, since: since.flatMap(DurationText.seconds).map { now - $0 }, examples: examples)
            try await withLedger(options) { ledger in
                let rows = try await ledger.grayReport(query)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(rows.map(ReportJSON.init)), as: UTF8.self))
                    return
                }
                guard !rows.isEmpty else {
                    print("no shadow comparisons recorded" + (task.map { " for task \($0)" } ?? "") + (since.map { " in the last \($0)" } ?? ""))
                    return
                }
                print(Table.render(
                    header: ["TASK", "STABLE", "CANDIDATE", "COMPARED", "AGREED", "AGREEMENT"],
                    rows: rows.map { row in
                        [row.task, row.stableVersion, row.candidateVersion, "\(row.compared)", "\(row.agreed)", Usage.percent(row.agreement)]
                    }))
                let examples = rows.flatMap(\.examples)
                guard !examples.isEmpty else { return }
                print("\nDisagreements (most recent first):")
                print(Table.render(
                    header: ["TIME (UTC)", "TASK", "STABLE", "CANDIDATE", "KEY", "FIRST DIFFERENCE"],
                    rows: examples.map { example in
                        [Self.time(example.time), example.task, example.stableVersion, example.candidateVersion,
                         String(example.key.prefix(16)), example.difference ?? "-"]
                    }))
            }
        }

        /// A row as `--json` prints it: the row with its agreement.
        struct ReportJSON: Encodable {
            var task, stableVersion, candidateVersion: String
            var compared, agreed: Int64
            var agreement: Double
            var examples: [GrayComparison]

            init(_ row: GrayReportRow) {
                (task, stableVersion, candidateVersion) = (row.task, row.stableVersion, row.candidateVersion)
                (compared, agreed, agreement, examples) = (row.compared, row.agreed, row.agreement, row.examples)
            }
        }

        static func time(_ seconds: Double) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
            return formatter.string(from: Date(timeIntervalSince1970: seconds))
        }
    }
}
