import ArgumentParser
import DejaCore
import DejaServer
import Foundation

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the canonical form and content key of a request without sending it.",
        discussion: "Answers 'why did this not hit?': run it on two requests and compare the keys and notes."
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The task's route (e.g. /ocr) or name.")
    var route: String = "/ocr"

    @Option(help: "The tenant, for tasks whose cache scope is per tenant.")
    var tenant: String = "explain"

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
}
