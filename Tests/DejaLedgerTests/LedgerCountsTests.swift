@testable import DejaLedger
import DejaCore
import Foundation
import Testing

/// Requests that bill nothing counted per hour (``UsageTally``, ``Ledger/count(_:)``) instead of one record
/// each: reports, exports and the most repeated keys must read as if every request had its record.
@Suite struct LedgerCountsTests {
    let clock = ManualClock(start: newYear2026)

    func key(_ n: UInt8) -> CacheKey { CacheKey(bytes: [UInt8](repeating: n, count: 32))! }

    /// A mixed run over two days, two tenants, two keys and two tasks: misses and priced hits billed;
    /// hits, coalesced answers, stale answers and errors of several statuses billing nothing.
    func mixedRun() -> [UsageRecord] {
        var records: [UsageRecord] = []
        let start = clock.now - 1800  // from the last half hour of 2025 into 2026-01-02
        for i in 0..<400 {
            let time = start + Double(i) * 263.5
            let tenant = i % 5 == 0 ? "globex" : "acme"
            let keyID = i % 3 == 0 ? "key_b" : "key_a"
            let task = i % 7 == 0 ? "layout" : "ocr"
            let content = key(UInt8(i % 9))
            func make(_ outcome: Outcome, metered: Int64, billed: Int64, status: Int = 200, seconds: Double = 0) -> UsageRecord {
                UsageRecord(time: time, tenant: tenant, keyID: keyID, task: task, outcome: outcome, meteredTokens: metered,
                            billedTokens: billed, latencyMicros: Int64(100 + i), status: status, modelSeconds: seconds,
                            contentKey: outcome == .error && i % 2 == 0 ? nil : content)
            }
            switch i % 8 {
            case 0: records.append(make(.miss, metered: 30, billed: 30, seconds: 1.5))
            case 1: records.append(make(.hit, metered: 30, billed: 3, seconds: 1.5))  // a priced hit: billed
            case 2: records.append(make(.coalesced, metered: 20, billed: 0, seconds: 0.75))
            case 3: records.append(make(.stale, metered: 10, billed: 0, seconds: 0.25))
            case 4: records.append(make(.error, metered: 0, billed: 0, status: i % 16 == 4 ? 502 : 429))
            default: records.append(make(.hit, metered: 10 + Int64(i % 4), billed: 0, seconds: 0.5))
            }
        }
        return records
    }

    /// The queries a report, the dashboard and `/v1/usage` run: every grouping, whole days, all time.
    var queries: [UsageQuery] {
        let day = 86_400.0
        return [
            UsageQuery(),
            UsageQuery(tenant: "acme"),
            UsageQuery(groupBy: [.key]),
            UsageQuery(groupBy: [.hour]),
            UsageQuery(groupBy: [.task, .status]),
            UsageQuery(groupBy: [.tenant, .key, .task, .day, .hour, .status]),
            UsageQuery(groupBy: []),
            UsageQuery(tenant: "acme", from: clock.now, to: clock.now + day, groupBy: [.day, .key]),
            UsageQuery(from: clock.now - day, to: clock.now, groupBy: [.task]),
            UsageQuery(from: clock.now + 3 * 3600, to: clock.now + 20 * 3600, groupBy: [.hour, .status]),
        ]
    }

    /// Writes `records` as the gateway does: billed ones as records, the others in tallies of `flushes` parts.
    func write(_ records: [UsageRecord], to ledger: any Ledger, flushes: Int) async throws {
        try await ledger.record(records.filter { $0.billedTokens > 0 })
        let unbilled = records.filter { $0.billedTokens == 0 }
        for part in 0..<flushes {
            var tally = UsageTally()
            for (index, record) in unbilled.enumerated() where index % flushes == part { tally.add(record) }
            try await ledger.count(tally)
        }
    }

    @Test(arguments: Backend.enabled)
    func reportsOverCountsEqualReportsOverRecords(_ backend: Backend) async throws {
        let run = mixedRun()
        try await withLedger(backend, clock: clock) { everyRecord in
            try await everyRecord.record(run)
            try await withLedger(backend, clock: clock) { counted in
                try await write(run, to: counted, flushes: 3)
                for query in queries {
                    let expected = try await everyRecord.usage(query)
                    let actual = try await counted.usage(query)
                    #expect(!expected.isEmpty)
                    #expect(actual.count == expected.count, "\(query.groupBy)")
                    for (a, e) in zip(actual, expected) {
                        var rounded = a
                        // Summed in a different order: equal up to floating-point rounding.
                        #expect(abs(a.modelSecondsSaved - e.modelSecondsSaved) < 1e-9)
                        rounded.modelSecondsSaved = e.modelSecondsSaved
                        #expect(rounded == e, "\(query.groupBy)")
                    }
                }
            }
        }
    }

    @Test(arguments: Backend.enabled)
    func countsAreTheSumOfWhatWasCounted(_ backend: Backend) async throws {
        let run = mixedRun()
        let unbilled = run.filter { $0.billedTokens == 0 }
        // One count per hour, tenant, key, task, outcome and status, each the number of its requests.
        var expected: [UsageCount.Group: Int64] = [:]
        for record in unbilled {
            expected[UsageCount.Group(hour: UsageCount.hour(of: record.time), tenant: record.tenant, keyID: record.keyID,
                                      task: record.task, outcome: record.outcome, status: record.status), default: 0] += 1
        }
        let groups = expected
        try await withLedger(backend, clock: clock) { ledger in
            try await write(run, to: ledger, flushes: 4)
            // Only the billed answers have records of their own.
            let records = try await ledger.records(UsageQuery())
            #expect(records.count == run.count - unbilled.count)
            #expect(records.allSatisfy { $0.billedTokens > 0 })

            let counts = try await ledger.counts(UsageQuery())
            #expect(counts.map(\.requests).reduce(0, +) == Int64(unbilled.count))
            #expect(counts.map(\.meteredTokens).reduce(0, +) == unbilled.map(\.meteredTokens).reduce(0, +))
            #expect(counts.map(\.billedTokens).reduce(0, +) == 0)
            let saved = unbilled.filter { $0.outcome.isServedFromCache }.map { $0.meteredTokens - $0.billedTokens }.reduce(0, +)
            #expect(counts.map(\.savedTokens).reduce(0, +) == saved)
            let seconds = unbilled.filter { $0.outcome.isServedFromCache }.map(\.modelSeconds).reduce(0, +)
            #expect(abs(counts.map(\.modelSecondsSaved).reduce(0, +) - seconds) < 1e-9)
            #expect(Dictionary(uniqueKeysWithValues: counts.map { ($0.group, $0.requests) }) == groups)
            #expect(counts.map(\.group.hour) == counts.map(\.group.hour).sorted())

            // The report adds records and counts: every request once.
            let total = try #require(try await ledger.usage(UsageQuery(groupBy: [])).first)
            #expect(total.requests == Int64(run.count))
            #expect(total.billedTokens == run.map(\.billedTokens).reduce(0, +))
            #expect(total.hits == Int64(run.filter { $0.outcome == .hit }.count))
            #expect(total.errors == Int64(run.filter { $0.outcome == .error }.count))
        }
    }

    @Test(arguments: Backend.enabled)
    func instancesCountingTheSameHourAddUp(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            let ledgers = [try await store.open(clock: clock), try await store.open(clock: clock)]
            let hit = UsageRecord(time: clock.now + 10, tenant: "acme", keyID: "key_a", task: "ocr", outcome: .hit,
                                  meteredTokens: 7, billedTokens: 0, latencyMicros: 50, modelSeconds: 0.5, contentKey: key(1))
            // 2 instances × 20 flushes × 50 hits of the same group, at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for ledger in ledgers {
                    for _ in 0..<20 {
                        group.addTask {
                            var tally = UsageTally()
                            for _ in 0..<50 { tally.add(hit) }
                            try await ledger.count(tally)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let row = try #require(try await ledgers[0].usage(UsageQuery()).first)
            #expect(row.requests == 2000 && row.hits == 2000 && row.savedTokens == 14_000)
            #expect(abs(row.modelSecondsSaved - 1000) < 1e-6)
            let repeated = try await ledgers[1].repeatedKeys(RepeatedKeysQuery())
            #expect(repeated.map(\.requests) == [2000])
            for ledger in ledgers { try await ledger.close() }
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    @Test(arguments: Backend.enabled)
    func repeatedKeysOverCountsEqualThoseOverRecords(_ backend: Backend) async throws {
        let run = mixedRun()
        try await withLedger(backend, clock: clock) { everyRecord in
            try await everyRecord.record(run)
            try await withLedger(backend, clock: clock) { counted in
                try await write(run, to: counted, flushes: 2)
                for query in [
                    RepeatedKeysQuery(), RepeatedKeysQuery(tenant: "globex"), RepeatedKeysQuery(task: "layout"),
                    RepeatedKeysQuery(key: key(4)), RepeatedKeysQuery(from: clock.now, to: clock.now + 86_400, limit: 3),
                ] {
                    let expected = try await everyRecord.repeatedKeys(query)
                    #expect(!expected.isEmpty)
                    #expect(try await counted.repeatedKeys(query) == expected)
                }
            }
        }
    }

    @Test(arguments: Backend.enabled)
    func aLedgerFromBeforeCountsKeepsItsRecordsInReports(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            let hit = usageRecord(.hit, at: clock.now + 5, metered: 4, modelSeconds: 0.5)
            // A ledger written by the Deja before hourly counts (SQLite schema 5, PostgreSQL 4): one record
            // per request, hits included.
            try await store.createSchema(version: backend == .sqlite ? 5 : 4, then: [
                """
                INSERT INTO usage (time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds)
                VALUES (\(clock.now), 'acme', 'key_0123456789ab', 'ocr', 'miss', 10, 10, 900, 200, 1.0),
                       (\(clock.now + 1), 'acme', 'key_0123456789ab', 'ocr', 'hit', 10, 0, 90, 200, 1.0)
                """,
            ])
            let ledger = try await store.open(clock: clock)
            var tally = UsageTally()
            tally.add(hit)
            try await ledger.count(tally)
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect((row.requests, row.hits, row.misses, row.billedTokens, row.savedTokens) == (3, 2, 1, 10, 14))
            try await ledger.close()
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }
}
