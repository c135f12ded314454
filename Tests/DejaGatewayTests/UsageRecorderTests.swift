import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import Logging
import Testing

/// What the recorder writes for what bills nothing: hourly counts by default, a record per request for the
/// tasks that ask for it, and nothing lost when the ledger refuses a flush.
@Suite struct UsageRecorderTests {
    let folder = NSTemporaryDirectory() + "deja-recorder-\(UUID().uuidString)"

    func record(_ outcome: Outcome, task: String = "ocr", billed: Int64 = 0, at time: Double = 1_767_225_600) -> UsageRecord {
        UsageRecord(time: time, tenant: "acme", keyID: "key_a", task: task, outcome: outcome, meteredTokens: 10, billedTokens: billed,
                    latencyMicros: 100, status: outcome == .error ? 502 : 200, modelSeconds: 0.5,
                    contentKey: CacheKey(bytes: [UInt8](repeating: 7, count: 32)))
    }

    @Test func unbilledRequestsAreCountedAndBilledOnesRecorded() async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ledger = try await SQLiteLedger.open(path: folder + "/ledger.sqlite")
        let recorder = UsageRecorder(ledger: ledger, recordingAll: ["layout"], logger: Logger(label: "test"))
        for _ in 0..<5 { recorder.enqueue(record(.hit)) }
        recorder.enqueue(record(.error))
        recorder.enqueue(record(.hit, billed: 3))         // billed: always a record of its own
        recorder.enqueue(record(.hit, task: "layout"))    // usage.records: all
        #expect(recorder.queued == 8)
        #expect(await recorder.flush())
        #expect(recorder.queued == 0)

        let records = try await ledger.records(UsageQuery())
        #expect(records.map(\.task).sorted() == ["layout", "ocr"])
        #expect(records.first { $0.task == "ocr" }?.billedTokens == 3)
        let counts = try await ledger.counts(UsageQuery())
        #expect(counts.map { "\($0.group.task) \($0.group.outcome) \($0.requests)" }.sorted() == ["ocr error 1", "ocr hit 5"])
        let row = try #require(try await ledger.usage(UsageQuery(groupBy: [])).first)
        #expect((row.requests, row.hits, row.errors, row.billedTokens, row.savedTokens) == (8, 7, 1, 3, 67))
        // The key's hits counted and recorded alike; the error is not an answer.
        #expect(try await ledger.repeatedKeys(RepeatedKeysQuery()).map { "\($0.task) \($0.requests)" } == ["ocr 6", "layout 1"])
        try await ledger.close()
    }

    /// On PostgreSQL, whose pool writes two flushes at once (SQLite's one writer would order them anyway).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DEJA_POSTGRES_URL"].map { !$0.isEmpty } ?? false))
    func aFlushReturnsOnlyAfterTheFlushUnderWay() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["DEJA_POSTGRES_URL"])
        let schema = "t_recorder_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let ledger = try await PostgresLedger.open(url: url + (url.contains("?") ? "&" : "?") + "schema=" + schema)
        defer { Self.dropSchema(schema, url: url) }
        let recorder = UsageRecorder(ledger: ledger, recordingAll: ["layout"], logger: Logger(label: "test"))
        // A backlog of records (usage.records: all) that takes the background flush a while to write.
        for i in 0..<10_000 { recorder.enqueue(record(.hit, task: "layout", at: 1_767_225_600 + Double(i) * 0.01)) }
        let background = Task { await recorder.flush() }
        while recorder.queued > 0 { await Task.yield() }  // the background flush took the backlog
        // A report's flush: when it returns, everything answered before it is in the ledger.
        recorder.enqueue(record(.hit))
        #expect(await recorder.flush())
        let row = try #require(try await ledger.usage(UsageQuery(groupBy: [])).first)
        #expect(row.requests == 10_001)
        #expect(await background.value)
        try await ledger.close()
    }

    /// Drops a test's schema with psql (this target has no PostgreSQL client of its own).
    static func dropSchema(_ schema: String, url: String) {
        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        psql.arguments = ["psql", url.components(separatedBy: "?")[0], "-qc", "DROP SCHEMA IF EXISTS \(schema) CASCADE"]
        psql.standardOutput = FileHandle.nullDevice
        psql.standardError = FileHandle.nullDevice
        try? psql.run()
        psql.waitUntilExit()
    }

    @Test func whatTheLedgerRefusesStaysForTheNextFlush() async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let closed = try await SQLiteLedger.open(path: folder + "/ledger.sqlite")
        try await closed.close()
        let recorder = UsageRecorder(ledger: closed, logger: Logger(label: "test"))
        recorder.enqueue(record(.hit))
        recorder.enqueue(record(.hit, billed: 2))
        #expect(await recorder.flush() == false)
        recorder.enqueue(record(.hit))
        #expect(recorder.queued == 3)  // the refused count and record, and the new hit
    }
}
