import ArgumentParser
import DejaServer
import Foundation

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove cached answers from every layer and every instance's memory.",
        discussion: """
            Talks to the running gateway (POST /admin/purge with the admin token). Every condition given \
            must hold; --all purges everything and is needed to purge without a condition. Prints the \
            entries removed per layer and whether the other instances were told to drop their memory copies. \
            Entries stored before entries carried their task and scope are reached only by --key or --all.
            """
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var admin: AdminOptions

    @Option(help: "Only this task's answers.")
    var task: String?

    @Option(name: .customLong("model-version"), help: "Only answers of this model version.")
    var modelVersion: String?

    @Option(help: "Only the answer under this content key (x-deja-key, 64 hex digits).")
    var key: String?

    @Option(help: "Only answers in this tenant's own scope (tasks with scope: tenant).")
    var tenant: String?

    @Flag(help: "Only answers in the shared scope.")
    var shared = false

    @Option(name: .customLong("older-than"), help: "Only answers created longer ago than this: 30m, 12h, 7d.")
    var olderThan: String?

    @Flag(help: "Every answer (needed to purge without a condition).")
    var all = false

    @Flag(help: "Print the gateway's JSON answer.")
    var json = false

    func validate() throws {
        if tenant != nil && shared { throw ValidationError("--tenant and --shared name two scopes; give one") }
        if [task, modelVersion, key, tenant, olderThan].allSatisfy({ $0 == nil }) && !shared && !all {
            throw ValidationError("name what to purge (--task, --model-version, --key, --tenant, --shared, --older-than) or pass --all")
        }
    }

    func run() async throws {
        let client = try AdminClient(configuration: try DejaConfiguration.load(path: options.config), url: admin.url)
        var body: [String: JSONField] = [:]
        body["task"] = task.map(JSONField.text)
        body["modelVersion"] = modelVersion.map(JSONField.text)
        body["key"] = key.map(JSONField.text)
        body["tenant"] = tenant.map(JSONField.text)
        body["olderThan"] = olderThan.map(JSONField.text)
        if shared { body["shared"] = .flag(true) }
        if all { body["all"] = .flag(true) }
        let data = try await client.send(.POST, "/admin/purge", json: try JSONEncoder().encode(body))
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let report = try JSONDecoder().decode(CachePurger.Report.self, from: data)
        var rows = [["memory (this instance)", "\(report.memory)"]]
        if let sqlite = report.sqlite { rows.append(["sqlite", "\(sqlite)"]) }
        if let redis = report.redis { rows.append(["redis", "\(redis)"]) }
        print(Table.render(header: ["layer", "entries removed"], rows: rows))
        print(report.redis == nil ? "other instances: none (no shared Redis)"
              : report.notified ? "other instances: notified; each drops its memory copies now"
              : "other instances: NOT notified (publishing failed); their memory copies expire with their retention")
    }

    enum JSONField: Encodable {
        case text(String)
        case flag(Bool)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .flag(let flag): try container.encode(flag)
            }
        }
    }
}
