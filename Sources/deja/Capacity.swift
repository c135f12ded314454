import ArgumentParser
import DejaCache
import DejaServer
import Foundation

struct Capacity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the cache holds per task and project the memory a workload needs.",
        discussion: """
            Talks to the running gateway (GET /admin/capacity with the admin token): per task, entries, bytes, \
            mean and p99 entry size in this instance's memory tier and in the persistent store (Redis sizes \
            are measured on a random sample of the index, said as such), the hit ratio over the last hour on \
            every instance, the memory budget and Redis's used_memory, maxmemory and evicted_keys. \
            With --requests N --repeat-ratio R it projects the memory N requests need when a fraction R of \
            them repeats an earlier one: N×(1−R) distinct answers, each kept once for its whole retention, \
            at today's mean size per entry (see docs/operations.md, "Capacity planning").
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var admin: AdminOptions

    @Option(help: "Requests in the period to plan for.")
    var requests: Int?

    @Option(name: .customLong("repeat-ratio"), help: "Fraction of those requests that repeat an earlier one, 0 to 1.")
    var repeatRatio: Double?

    @Option(help: "Use this task's entry sizes for the projection (default: every task, weighted by entries).")
    var task: String?

    @Flag(help: "Print the gateway's JSON report.")
    var json = false

    func validate() throws {
        if (requests == nil) != (repeatRatio == nil) { throw ValidationError("--requests and --repeat-ratio go together") }
        if let requests, requests < 0 { throw ValidationError("--requests must not be negative") }
        if let repeatRatio, !(0...1).contains(repeatRatio) { throw ValidationError("--repeat-ratio must be between 0 and 1") }
    }

    func run() async throws {
        let client = try AdminClient(configuration: try DejaConfiguration.load(path: options.config), url: admin.url)
        let data = try await client.send(.GET, "/admin/capacity")
        let report = try JSONDecoder().decode(CapacityReport.self, from: data)
        if let task, !report.tasks.contains(where: { $0.task == task }) {
            throw ValidationError("no task named '\(task)'; configured: \(report.tasks.map(\.task).joined(separator: ", "))")
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(Self.render(report))
        }
        guard let requests, let repeatRatio else { return }
        guard let inputs = report.planInputs(requests: requests, repeatRatio: repeatRatio, task: task) else {
            throw ValidationError("no entry is stored yet\(task.map { " for task '\($0)'" } ?? ""), so there is no size to project from")
        }
        let plan = CapacityPlan(inputs)
        print("")
        print("projection: \(requests) requests, repeat ratio \(repeatRatio)\(task.map { ", task \($0)" } ?? "")")
        print("  distinct entries: \(plan.distinctEntries) = ⌈\(requests) × (1 − \(repeatRatio))⌉")
        print("  L1:    \(plan.distinctEntries) × \(Int(inputs.l1BytesPerEntry.rounded())) B = \(CapacityPlan.bytes(plan.l1Bytes))")
        if let perEntry = inputs.redisBytesPerEntry, let bytes = plan.redisBytes {
            print("  Redis: \(plan.distinctEntries) × \(Int(perEntry.rounded())) B = \(CapacityPlan.bytes(bytes)) (value + key overhead + index member)")
        }
        for line in plan.verdict { print("verdict: " + line) }
    }

    static func render(_ report: CapacityReport) -> String {
        func size(_ usage: TaskCacheUsage?) -> [String] {
            guard let usage else { return ["-", "-", "-", "-"] }
            let sample = usage.sampled.map { " (sample of \($0))" } ?? ""
            return ["\(usage.entries)", CapacityPlan.bytes(usage.bytes), "\(Int(usage.meanBytes.rounded()))" + sample, "\(usage.p99Bytes)"]
        }
        let rows = report.tasks.flatMap { row -> [[String]] in
            let hits = String(format: "%.1f%% of %d", row.hitRatioLastHour * 100, row.requestsLastHour)
            return [[row.task, "memory"] + size(row.memory) + [hits], [row.task, report.store] + size(row.store) + [""]]
        }
        var lines = [Table.render(header: ["task", "layer", "entries", "bytes", "mean B", "p99 B", "hit ratio (last hour)"], rows: rows)]
        if let memory = report.memory {
            let percent = memory.budgetBytes > 0 ? Double(memory.usedBytes) / Double(memory.budgetBytes) * 100 : 0
            lines.append("memory tier: \(CapacityPlan.bytes(memory.usedBytes)) of \(CapacityPlan.bytes(memory.budgetBytes)) budget "
                         + String(format: "(%.1f%%)", percent) + ", \(memory.entries) entries (this instance)")
        }
        if let redis = report.redis {
            let limit = redis.maxMemory > 0 ? CapacityPlan.bytes(redis.maxMemory) : "unlimited"
            lines.append("redis: used_memory \(CapacityPlan.bytes(redis.usedMemory)), maxmemory \(limit), evicted_keys \(redis.evictedKeys), "
                         + "per-key overhead \(redis.perKeyOverheadBytes.map { "\($0) B" } ?? "unknown") (measured), index member \(redis.indexMemberBytes) B (estimate)")
        }
        return lines.joined(separator: "\n")
    }
}
