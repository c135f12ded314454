import Foundation

/// What a `deja warm` run has seen so far: the answers by how the cache answered them, and the errors.
public struct WarmTally: Sendable, Equatable {
    /// Items to send in this run (after those a resumed run skips).
    public var total: Int
    /// Items a resumed run skipped: done by an earlier run.
    public var skipped = 0
    public var hits = 0
    public var misses = 0
    /// Coalesced, stale, negative or bypass answers.
    public var other = 0
    /// Failed items by HTTP status (0: no answer at all).
    public var errors: [Int: Int] = [:]
    /// Tokens the answers billed to the key's tenant.
    public var billedTokens: Int64 = 0

    public init(total: Int) { self.total = total }

    /// Items answered or failed.
    public var done: Int { hits + misses + other + errorCount }
    public var errorCount: Int { errors.values.reduce(0, +) }

    /// Counts one answer by its status and `x-deja-cache` and `x-deja-billed-tokens` headers.
    public mutating func count(status: Int, cache: String?, billed: Int64) {
        guard (200..<300).contains(status) else {
            errors[status, default: 0] += 1
            return
        }
        switch cache {
        case "hit": hits += 1
        case "miss": misses += 1
        default: other += 1
        }
        billedTokens += billed
    }

    /// Counts an item that got no answer (connection refused, timeout).
    public mutating func countUnanswered() { errors[0, default: 0] += 1 }
}

/// How `deja warm` shows progress: a bar redrawn in place on a terminal, plain lines otherwise.
public enum WarmProgress {
    /// Items per second and the estimated time left, from `done` items in `elapsed` seconds.
    public static func rate(done: Int, total: Int, elapsed: Double) -> (perSecond: Double, remaining: Double?) {
        guard elapsed > 0, done > 0 else { return (0, nil) }
        let perSecond = Double(done) / elapsed
        return (perSecond, Double(max(0, total - done)) / perSecond)
    }

    /// `1h02m`, `2m03s`, `45s`; `--` when unknown.
    public static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "--" }
        let whole = Int(seconds.rounded())
        if whole >= 3600 { return String(format: "%dh%02dm", whole / 3600, whole % 3600 / 60) }
        if whole >= 60 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return "\(whole)s"
    }

    /// The counters both forms show: `120/500 24% 3.1/s eta 2m03s hits 80 misses 38 errors 2`.
    public static func counters(_ tally: WarmTally, elapsed: Double) -> String {
        let (perSecond, remaining) = rate(done: tally.done, total: tally.total, elapsed: elapsed)
        let percent = tally.total == 0 ? 100 : tally.done * 100 / tally.total
        return "\(tally.done)/\(tally.total) \(percent)% \(String(format: "%.1f", perSecond))/s eta \(duration(remaining)) "
            + "hits \(tally.hits) misses \(tally.misses) other \(tally.other) errors \(tally.errorCount)"
    }

    /// A terminal line: a bar `width` cells wide, then the counters; redrawn with a carriage return.
    public static func bar(_ tally: WarmTally, elapsed: Double, width: Int = 24) -> String {
        let filled = tally.total == 0 ? width : min(width, tally.done * width / tally.total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "[\(bar)] " + counters(tally, elapsed: elapsed)
    }

    /// A log line for a pipe or a file.
    public static func line(_ tally: WarmTally, elapsed: Double) -> String {
        "warm: " + counters(tally, elapsed: elapsed)
    }

    /// The closing summary.
    public static func summary(_ tally: WarmTally, elapsed: Double, interrupted: Bool, state: String?) -> String {
        let (perSecond, _) = rate(done: tally.done, total: tally.total, elapsed: elapsed)
        var lines = [
            "\(interrupted ? "interrupted after" : "warmed") \(tally.done) of \(tally.total) requests in \(duration(elapsed)) "
                + "(\(String(format: "%.1f", perSecond))/s)"
                + (tally.skipped > 0 ? "; \(tally.skipped) done by an earlier run were skipped" : ""),
            "  hits \(tally.hits) (already cached), misses \(tally.misses) (computed now and cached), other \(tally.other) (coalesced, stale, negative or bypass)",
            "  billed \(tally.billedTokens) tokens to the API key's tenant",
        ]
        if tally.errorCount > 0 {
            let byStatus = tally.errors.sorted { $0.key < $1.key }
                .map { "\($0.key == 0 ? "no answer" : String($0.key)): \($0.value)" }.joined(separator: ", ")
            lines.append("  errors \(tally.errorCount) (\(byStatus)): not cached; a rerun sends them again")
        }
        if let state, interrupted || tally.errorCount > 0 {
            lines.append("  progress kept in \(state): run the same command again to resume")
        }
        return lines.joined(separator: "\n")
    }
}

/// The items a `deja warm` run has finished, one id per line in a file, so an interrupted run resumes.
///
/// An item is written once it has an answer (2xx): failed items are sent again by the next run.
public final class WarmState: @unchecked Sendable {
    public let path: String
    private let handle: FileHandle
    private let lock = NSLock()

    /// The ids already done in `path` (empty when it does not exist), and the file opened for appending.
    public static func open(path: String) throws -> (state: WarmState, done: Set<String>) {
        var done = Set<String>()
        if let data = FileManager.default.contents(atPath: path) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.isEmpty {
                done.insert(String(line))
            }
        } else {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        return (WarmState(path: path, handle: handle), done)
    }

    private init(path: String, handle: FileHandle) {
        self.path = path
        self.handle = handle
    }

    /// Appends `id` (no newlines in it) as done.
    public func markDone(_ id: String) {
        lock.lock()
        defer { lock.unlock() }
        try? handle.write(contentsOf: Data((id + "\n").utf8))
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        try? handle.close()
    }
}
