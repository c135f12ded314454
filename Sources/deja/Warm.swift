import ArgumentParser
import AsyncHTTPClient
import Crypto
import DejaCore
import DejaGateway
import DejaServer
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

struct Warm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill the cache ahead of traffic by sending recorded requests through a running gateway.",
        discussion: """
            With --jsonl or --images, each request goes through the gateway's own path, exactly as a \
            client's would: misses call the model and are billed to the tenant of the API key the run \
            uses (--api-key or DEJA_API_KEY), hits cost what hits cost. --jsonl FILE holds one request \
            body per line; --images DIR holds image files (png, jpg, jpeg, bmp, tif, tiff, webp), each \
            wrapped for the task's protocol (PaddleX OCR: {"file": <base64>, "fileType": 1}).
            Progress goes to standard error: a bar on a terminal, a line every --every seconds otherwise. \
            Every answered item is written to a state file (--state; by default \
            .deja-warm-<digest of route and input>.state in the current folder), so Ctrl-C — which \
            stops sending, lets the requests in flight finish and prints the summary — and a rerun of \
            the same command resumes where it stopped. Failed items are not marked done: a rerun sends \
            them again. --restart forgets the state.
            With --from-ledger, nothing is sent to the model: the gateway (admin token: DEJA_ADMIN_TOKEN) \
            loads the ledger's --top most repeated content keys of the last --since into its memory, \
            from SQLite or Redis; keys whose answers are no longer stored need their requests (--jsonl).
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The task's route (e.g. /ocr) or name.")
    var route: String = "/ocr"

    @Option(help: "A file with one request body per line.")
    var jsonl: String?

    @Option(help: "A folder of image files.")
    var images: String?

    @Flag(help: "Load the ledger's most repeated keys into the gateway's memory (admin token).")
    var fromLedger = false

    @Option(help: "With --from-ledger: how many keys.")
    var top: Int = 1000

    @Option(help: "With --from-ledger: the period to count over, e.g. 24h, 7d, 30m.")
    var since: String = "24h"

    @OptionGroup var admin: AdminOptions

    @Option(help: "The API key the requests are sent (and billed) with (default: DEJA_API_KEY).")
    var apiKey: String?

    @Option(help: "Requests in flight at once.")
    var concurrency: Int = 4

    @Option(help: "The file that records finished items, for resuming.")
    var state: String?

    @Flag(help: "Forget what earlier runs finished and send everything again.")
    var restart = false

    @Option(help: "Seconds between progress lines when standard error is not a terminal.")
    var every: Double = 5

    func validate() throws {
        let sources = [jsonl != nil, images != nil, fromLedger].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --jsonl FILE, --images DIR or --from-ledger") }
        guard (1...256).contains(concurrency) else { throw ValidationError("--concurrency: between 1 and 256") }
        guard (1...100_000).contains(top) else { throw ValidationError("--top: between 1 and 100000") }
        guard every > 0 else { throw ValidationError("--every: a positive number of seconds") }
        guard let seconds = DurationText.seconds(since), seconds > 0 else { throw ValidationError("--since: a duration like 30m, 24h or 7d") }
    }

    func run() async throws {
        let configuration = try DejaConfiguration.load(path: options.config)
        if fromLedger {
            try await warmFromLedger(AdminClient(configuration: configuration, url: admin.url))
            return
        }
        let base = AdminClient.baseURL(configuration: configuration, url: admin.url)
        let tasks = try configuration.taskRuntimes()
        guard let task = tasks.first(where: { $0.route == route || $0.policy.task == route }) else {
            throw ValidationError("no task with route or name '\(route)'; configured: \(tasks.map(\.route).joined(separator: ", "))")
        }
        guard let key = apiKey ?? ProcessInfo.processInfo.environment["DEJA_API_KEY"], !key.isEmpty else {
            throw ValidationError("an API key is needed to send requests: --api-key or DEJA_API_KEY ('deja keys create --tenant T')")
        }
        let items = try loadItems(task: task)
        let statePath = state ?? Self.defaultStatePath(route: task.route, input: jsonl ?? images ?? "")
        if restart { try? FileManager.default.removeItem(atPath: statePath) }
        let (warmState, done) = try WarmState.open(path: statePath)
        defer { warmState.close() }
        let pending = items.filter { !done.contains($0.id) }
        var tally = WarmTally(total: pending.count)
        tally.skipped = items.count - pending.count
        if tally.skipped > 0 {
            FileHandle.standardError.write(Data("resuming: \(tally.skipped) of \(items.count) done by an earlier run (\(statePath))\n".utf8))
        }
        let run = WarmSender(
            client: HTTPClient.shared, url: base + task.route, apiKey: key, concurrency: concurrency, state: warmState,
            interactive: isatty(STDERR_FILENO) == 1, every: every
        )
        let (final, elapsed, interrupted) = await run.send(pending, tally: tally)
        print(WarmProgress.summary(final, elapsed: elapsed, interrupted: interrupted, state: statePath))
        if interrupted { throw ExitCode(130) }
        if final.errorCount > 0 { throw ExitCode(1) }
    }

    /// The requests to send, each with a stable id for the state file.
    private func loadItems(task: TaskRuntime) throws -> [WarmItem] {
        if let jsonl {
            guard let data = FileManager.default.contents(atPath: jsonl) else { throw ValidationError("cannot read '\(jsonl)'") }
            var items: [WarmItem] = []
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                let body = line.last == UInt8(ascii: "\r") ? line.dropLast() : line
                guard !body.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { continue }
                items.append(WarmItem(id: "line:\(index + 1)", load: { Array(body) }))
            }
            return items
        }
        let folder = images ?? ""
        guard task.taskProtocol.imageRequest(base64: "") != nil else {
            throw ValidationError("task '\(task.policy.task)' (\(task.taskProtocol.name)) takes no images: use --jsonl")
        }
        let extensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"]
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw ValidationError("cannot read the folder '\(folder)'")
        }
        let protocolOfTask = task.taskProtocol
        return names.sorted()
            .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }
            .map { name in
                let path = (folder as NSString).appendingPathComponent(name)
                return WarmItem(id: "file:\(name)", load: {
                    guard let data = FileManager.default.contents(atPath: path) else { return nil }
                    return protocolOfTask.imageRequest(base64: data.base64EncodedString())
                })
            }
    }

    private func warmFromLedger(_ client: AdminClient) async throws {
        var body: [String: Any] = ["top": top, "sinceSeconds": DurationText.seconds(since) ?? 86_400]
        if route != "/ocr" { body["task"] = route }
        let answer = try await client.send(.POST, "/admin/warm", json: try JSONSerialization.data(withJSONObject: body))
        let report = try JSONDecoder().decode(WarmReport.self, from: answer)
        print("""
            asked the ledger for the \(top) most repeated keys of the last \(since): \(report.requested) found
              loaded into memory \(report.loaded) (\(report.bytes) bytes, sealed until their first request)
              already in memory \(report.alreadyInMemory), no longer stored \(report.notStored) (their requests are needed: --jsonl), over the budget \(report.overBudget)
              the gateway now holds \(report.preloadedEntries) preloaded answers (\(report.preloadedBytes) bytes)
            """)
    }

    /// What `POST /admin/warm` answers.
    private struct WarmReport: Decodable {
        var requested, loaded, bytes, alreadyInMemory, notStored, overBudget, preloadedEntries, preloadedBytes: Int
    }

    /// `.deja-warm-<12 hex of SHA-256(route, absolute input)>.state` in the current folder.
    static func defaultStatePath(route: String, input: String) -> String {
        let absolute = URL(fileURLWithPath: input).standardizedFileURL.path
        let digest = CacheKey(digest: SHA256.hash(data: Array((route + "\n" + absolute).utf8)))
        return ".deja-warm-" + digest.hex.prefix(12) + ".state"
    }
}

/// One request of a warm run: its id in the state file and how to read its body (`nil`: unreadable).
struct WarmItem: Sendable {
    var id: String
    var load: @Sendable () -> [UInt8]?
}

/// Sends items with bounded concurrency, counting answers and drawing progress, until done or Ctrl-C.
struct WarmSender: Sendable {
    let client: HTTPClient
    let url: String
    let apiKey: String
    let concurrency: Int
    let state: WarmState
    let interactive: Bool
    let every: Double

    func send(_ items: [WarmItem], tally start: WarmTally) async -> (WarmTally, Double, Bool) {
        let stopping = Atomic<Bool>(false)
        signal(SIGINT, SIG_IGN)
        let interrupts = DispatchSource.makeSignalSource(signal: SIGINT)
        let presses = Atomic<Int>(0)
        interrupts.setEventHandler {
            if presses.add(1, ordering: .relaxed).newValue > 1 { exit(130) }
            stopping.store(true, ordering: .relaxed)
            FileHandle.standardError.write(Data("\nstopping: waiting for the requests in flight (Ctrl-C again to quit at once)\n".utf8))
        }
        interrupts.resume()
        defer { interrupts.cancel() }

        let clock = ContinuousClock()
        let started = clock.now
        func elapsed() -> Double {
            let duration = clock.now - started
            return Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        }
        var tally = start
        var lastLine = -every
        var lastShown = -1
        func show(final: Bool = false) {
            let now = elapsed()
            if interactive {
                FileHandle.standardError.write(Data(("\r" + WarmProgress.bar(tally, elapsed: now) + (final ? "\n" : "")).utf8))
            } else if (final && lastShown != tally.done) || now - lastLine >= every {
                lastLine = now
                lastShown = tally.done
                FileHandle.standardError.write(Data((WarmProgress.line(tally, elapsed: now) + "\n").utf8))
            }
        }
        show()
        await withTaskGroup(of: (String, Outcome).self) { group in
            var next = items.startIndex
            func schedule() {
                guard next < items.endIndex, !stopping.load(ordering: .relaxed) else { return }
                let item = items[next]
                next += 1
                group.addTask { (item.id, await self.post(item)) }
            }
            for _ in 0..<concurrency { schedule() }
            while let (id, outcome) = await group.next() {
                switch outcome {
                case .answered(let status, let cache, let billed):
                    tally.count(status: status, cache: cache, billed: billed)
                    if (200..<300).contains(status) { state.markDone(id) }
                case .unanswered:
                    tally.countUnanswered()
                }
                show()
                schedule()
            }
        }
        let interrupted = stopping.load(ordering: .relaxed) && tally.done < tally.total
        tally.total = start.total
        show(final: true)
        return (tally, elapsed(), interrupted)
    }

    enum Outcome: Sendable {
        case answered(status: Int, cache: String?, billed: Int64)
        case unanswered
    }

    private func post(_ item: WarmItem) async -> Outcome {
        guard let body = item.load() else { return .answered(status: 400, cache: nil, billed: 0) }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(apiKey)")
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(600))
            _ = try await response.body.collect(upTo: 256 << 20)
            return .answered(
                status: Int(response.status.code), cache: response.headers.first(name: "x-deja-cache"),
                billed: response.headers.first(name: "x-deja-billed-tokens").flatMap { Int64($0) } ?? 0
            )
        } catch {
            return .unanswered
        }
    }
}
