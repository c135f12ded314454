import ArgumentParser
import DejaCore
import DejaServer
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the canonical form and content key of a request without sending it.",
        discussion: """
            Answers 'why did this not hit?': run it on two requests and compare the keys and notes.
            With --jsonl the input holds one request body per line and the output one JSON object per \
            line: {"line":N,"key":…,"canonicalForm":…,"notes":[…]}, or {"line":N,"error":…} for a body \
            that would be rejected; many requests are explained in one process.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The task's route (e.g. /ocr) or name.")
    var route: String = "/ocr"

    @Option(help: "The tenant, for tasks whose cache scope is per tenant.")
    var tenant: String = "explain"

    @Flag(help: "Read one request body per line and write one JSON result per line.")
    var jsonl = false

    @Argument(help: "The request body file; '-' or nothing reads standard input.")
    var file: String?

    func run() async throws {
        let configuration = try DejaConfiguration.load(path: options.config)
        let tasks = try configuration.taskRuntimes()
        guard let task = tasks.first(where: { $0.route == route || $0.policy.task == route }) else {
            throw ValidationError("no task with route or name '\(route)'; configured: \(tasks.map(\.route).joined(separator: ", "))")
        }
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read '\(file)'") }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        if jsonl {
            explainLines(Array(data), policy: task.policy)
            return
        }
        do {
            let request = try Canonicalizer().canonicalize(body: Array(data), policy: task.policy, scope: tenant)
            print("task:           \(task.policy.task) (\(task.route))")
            print("model:          \(task.policy.modelName) \(task.policy.modelVersion)")
            print("scope:          \(task.policy.scope == .tenant ? "tenant:\(tenant)" : "shared")")
            print("config hash:    \(task.policy.configHash)")
            print("key scheme:     \(CanonicalScheme.version)")
            print("canonical form: \(String(decoding: request.canonicalForm.canonicalBytes(), as: UTF8.self))")
            if request.notes.isEmpty {
                print("steps:          (nothing changed)")
            } else {
                print("steps:")
                for note in request.notes { print("  - \(note)") }
            }
            print("key:            \(request.key.hex)")
        } catch {
            throw ValidationError("the request would be rejected with 400: \(error)")
        }
    }

    /// One JSON line per non-empty input line, numbered from 1 as in the input.
    private func explainLines(_ input: [UInt8], policy: TaskPolicy) {
        let canonicalizer = Canonicalizer()
        for (index, line) in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let body = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            guard !body.isEmpty else { continue }
            var members: [(key: String, value: JSONValue)] = [("line", .number(JSONNumber(index + 1)))]
            do {
                let request = try canonicalizer.canonicalize(body: Array(body), policy: policy, scope: tenant)
                members.append(("key", .string(request.key.hex)))
                members.append(("canonicalForm", request.canonicalForm))
                members.append(("notes", .array(request.notes.map(JSONValue.string))))
            } catch {
                members.append(("error", .string("\(error)")))
            }
            print(String(decoding: JSONValue.object(members).serialized(), as: UTF8.self))
        }
    }
}
