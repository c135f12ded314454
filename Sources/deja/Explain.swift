import ArgumentParser
import DejaCore
import DejaGateway
import DejaServer
import Foundation
import Logging
import NIOCore

struct Explain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the canonical form and content key of a request without sending it.",
        discussion: """
            Answers 'why did this not hit?': run it on two requests and compare the keys and notes.
            Each string a text rule changed is shown before and after, with the rule's spelling \
            (nfkc+trim+collapse+cjk). With --jsonl the input holds one request body per line and the \
            output one JSON object per line: {"line":N,"key":…,"canonicalForm":…,"notes":[…], \
            "textChanges":[{"path":…,"rule":…,"before":…,"after":…}]}, or {"line":N,"error":…} for a \
            body that would be rejected; many requests are explained in one process.
            With --stored the answer the gateway keeps for the request is read from its persistent cache \
            (the SQLite file or Redis; the memory tier is the gateway's own) and opened with the seal \
            secrets (DEJA_SEAL_SECRETS_FILE, or the storage folder's seal.secrets) and the request itself — \
            stored answers open for nobody without their request. JSON lines get "stored": null or \
            {"status":…,"redacted":…,"ageSeconds":…,"modelVersion":…,"body":"…"}.
            Sensitive data the task's detectors find in a text task's input is listed with what the task \
            does with it ("detected":[{"kind":…,"masked":…,"action":…,"in":"input"}]); --answer FILE runs \
            them on a model answer too and shows the copy the gateway would keep.
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The task's route (e.g. /ocr) or name.")
    var route: String = "/ocr"

    @Option(help: "The tenant, for tasks whose cache scope is per tenant.")
    var tenant: String = "explain"

    @Flag(help: "Read one request body per line and write one JSON result per line.")
    var jsonl = false

    @Flag(help: "Also show the answer stored for the request, opened with the seal secrets and the request.")
    var stored = false

    @Option(help: "A model answer (JSON file) to run the task's sensitive-data detectors on.")
    var answer: String?

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
        let answerBytes: [UInt8]? = try answer.map { path in
            guard let contents = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read '\(path)'") }
            return Array(contents)
        }
        // Only --stored needs the seal secrets and the cache.
        let reader = stored ? StoredAnswerReader(configuration: configuration, logger: Logger(label: "deja.explain")) : nil
        try await StoredAnswerReader.withOptionalLookup(reader) { lookup in
            if jsonl {
                try await explainLines(Array(data), task: task, answer: answerBytes, lookup: lookup)
            } else {
                try await explainOne(Array(data), task: task, answer: answerBytes, lookup: lookup)
            }
        }
    }

    typealias Lookup = @Sendable (CanonicalRequest) async throws -> CacheEntry?

    private func explainOne(_ data: [UInt8], task: TaskRuntime, answer: [UInt8]?, lookup: Lookup?) async throws {
        do {
            var canonicalizer = Canonicalizer()
            canonicalizer.recordsTextChanges = true
            let (request, modelVersion) = task.routed(try canonicalizer.canonicalize(body: data, policy: task.policy, scope: tenant))
            print("task:           \(task.policy.task) (\(task.route))")
            print("model:          \(task.policy.modelName) \(modelVersion)\(task.gray.map { _ in modelVersion == task.policy.modelVersion ? " (stable; a gray release's candidate answers other documents)" : " (the gray release's candidate answers this document)" } ?? "")")
            print("scope:          \(task.policy.scope == .tenant ? "tenant:\(tenant)" : "shared")")
            print("config hash:    \(task.policy.configHash)")
            print("key scheme:     \(CanonicalScheme.version)")
            print("text rules:     \(Self.textRules(task.policy))")
            print("canonical form: \(String(decoding: request.canonicalForm.canonicalBytes(), as: UTF8.self))")
            if request.notes.isEmpty {
                print("steps:          (nothing changed)")
            } else {
                print("steps:")
                for note in request.notes { print("  - \(note)") }
            }
            if !request.textChanges.isEmpty {
                print("text changed:")
                for change in request.textChanges {
                    print("  - \(change.path) (\(change.rule)): \(Self.shown(change.before)) → \(Self.shown(change.after))")
                }
            }
            print("key:            \(request.key.hex)")
            let screening = Self.screen(task: task, request: request, answer: answer)
            if screening.matches.isEmpty {
                print("sensitive:      nothing found\(answer == nil && !task.policy.binaryFields.isEmpty ? " (detectors run on the model's answer: give one with --answer)" : "")")
            } else {
                print("sensitive:")
                for found in screening.matches {
                    print("  - \(found.match.kind.rawValue) \(found.match.masked) in the \(found.inInput ? "input" : "answer"): \(found.action.rawValue)")
                }
                if let answer {
                    if screening.skip {
                        print("kept:           nothing (not stored; the request that paid for it gets it in full)")
                    } else if !screening.masked.isEmpty {
                        print("kept:           \(String(decoding: SensitiveScanner.redact(json: answer, kinds: screening.masked).bytes, as: UTF8.self))")
                    }
                }
            }
            if let lookup {
                if let entry = try await lookup(request) {
                    print("stored:         status \(entry.status), \(entry.redactions) redacted, \(entry.age(at: WallClock.system.now())) s old, model \(entry.modelVersion)")
                    print(String(buffer: entry.body))
                } else {
                    print("stored:         nothing (or sealed with a secret no longer configured)")
                }
            }
        } catch let error as CanonicalError {
            throw ValidationError("the request would be rejected with 400: \(error)")
        }
    }

    /// One JSON line per non-empty input line, numbered from 1 as in the input.
    private func explainLines(_ input: [UInt8], task: TaskRuntime, answer: [UInt8]?, lookup: Lookup?) async throws {
        let policy = task.policy
        var canonicalizer = Canonicalizer()
        canonicalizer.recordsTextChanges = true
        for (index, line) in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let body = line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...]
            guard !body.isEmpty else { continue }
            var members: [(key: String, value: JSONValue)] = [("line", .number(JSONNumber(index + 1)))]
            do {
                let (request, modelVersion) = task.routed(try canonicalizer.canonicalize(body: Array(body), policy: policy, scope: tenant))
                members.append(("key", .string(request.key.hex)))
                if task.gray != nil { members.append(("modelVersion", .string(modelVersion))) }
                members.append(("canonicalForm", request.canonicalForm))
                members.append(("notes", .array(request.notes.map(JSONValue.string))))
                members.append(("textChanges", .array(request.textChanges.map { change in
                    .object([
                        ("path", .string(change.path)), ("rule", .string(change.rule.description)),
                        ("before", .string(change.before)), ("after", .string(change.after)),
                    ])
                })))
                let screening = Self.screen(task: task, request: request, answer: answer)
                members.append(("detected", .array(screening.matches.map { found in
                    .object([
                        ("kind", .string(found.match.kind.rawValue)), ("masked", .string(found.match.masked)),
                        ("action", .string(found.action.rawValue)), ("in", .string(found.inInput ? "input" : "answer")),
                    ])
                })))
                if let lookup {
                    members.append(("stored", try await lookup(request).map(Self.storedMembers) ?? .null))
                }
            } catch let error as CanonicalError {
                members.append(("error", .string("\(error)")))
            }
            print(String(decoding: JSONValue.object(members).serialized(), as: UTF8.self))
        }
    }

    /// What the task's detectors find in a text task's input (its forward body) and in `answer`.
    static func screen(task: TaskRuntime, request: CanonicalRequest, answer: [UInt8]?) -> SensitivePolicy.Screening {
        task.sensitive.screen(answer: answer ?? [], input: task.policy.binaryFields.isEmpty ? request.forwardBody : nil)
    }

    /// A stored entry as `deja explain --jsonl --stored` shows it.
    static func storedMembers(_ entry: CacheEntry) -> JSONValue {
        .object([
            ("status", .number(JSONNumber(entry.status))), ("redacted", .number(JSONNumber(entry.redactions))),
            ("ageSeconds", .number(JSONNumber(entry.age(at: WallClock.system.now())))), ("modelVersion", .string(entry.modelVersion)),
            ("body", .string(String(buffer: entry.body))),
        ])
    }

    /// The task's default text rule, then each member's own: `nfc; q: nfkc+trim+collapse+cjk`.
    static func textRules(_ policy: TaskPolicy) -> String {
        let fields = policy.fieldTextRules.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        return ([policy.defaultTextRule.description] + fields.map { "\($0.key): \($0.value)" }).joined(separator: "; ")
    }

    /// `text` quoted, with every white-space and control character escaped so that the spaces a rule
    /// removed or kept can be seen (`" 怎么\u3000退货"`), cut after 200 characters.
    static func shown(_ text: String, limit: Int = 200) -> String {
        var result = "\""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == limit {
                result += "…(\(text.utf8.count) bytes)"
                break
            }
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\t": result += "\\t"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case " ": result += " "
            default:
                if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
