@testable import DejaLedger
import DejaCore
import Foundation
import Testing

/// Billed records are counted per hour too (``ReportSQL/HourSplit``): a report or a quota reads those
/// counts for a range's whole hours and the records only at its ends, and must come out exactly as if it
/// had read every record, whatever the range.
@Suite struct LedgerRecordHoursTests {
    let clock = ManualClock(start: newYear2026)

    /// Three days of billed answers every 7 minutes 13 seconds (misses and priced hits, two tenants, two
    /// keys), so records fall at every offset within their hours.
    func billedRun() -> [UsageRecord] {
        (0..<600).map { i in
            let outcome: Outcome = i % 4 == 1 ? .hit : .miss
            return UsageRecord(
                time: clock.now + Double(i) * 433, tenant: i % 3 == 0 ? "globex" : "acme", keyID: i % 2 == 0 ? "key_a" : "key_b",
                task: "ocr", outcome: outcome, meteredTokens: 20 + Int64(i % 5), billedTokens: outcome == .hit ? 2 : 20 + Int64(i % 5),
                latencyMicros: 100, status: 200, modelSeconds: 0.25
            )
        }
    }

    /// Ranges with ends on hours, inside hours, within one hour, across one hour boundary, open at either end.
    var ranges: [(Double?, Double?)] {
        let t = clock.now, hour = 3600.0
        return [
            (nil, nil), (t, t + 86_400), (t + 1234.5, t + 50_000.25), (t + 100, t + 200), (t + 3000, t + 4000),
            (t + 3600, t + 7200), (t + 3599.999, t + 7200.001), (nil, t + 10 * hour + 1), (t + 5 * hour - 1, nil),
            (t + 2 * hour + 17, t + 2 * hour + 17), (t + 3 * hour, t + 2 * hour),
        ]
    }

    @Test(arguments: Backend.enabled)
    func reportsOverAnyRangeAddUpTheRecordsInIt(_ backend: Backend) async throws {
        let run = billedRun()
        try await withLedger(backend, clock: clock) { ledger in
            // In several statements, as batches arrive, some rows landing in hours already counted.
            for start in stride(from: 0, to: run.count, by: 130) {
                try await ledger.record(Array(run[start..<min(start + 130, run.count)]))
            }
            for (from, to) in ranges {
                for tenant in [nil, "acme"] {
                    let inRange = run.filter { record in
                        (tenant == nil || record.tenant == tenant) && record.time >= (from ?? -.infinity) && record.time < (to ?? .infinity)
                    }
                    let row = try await ledger.usage(UsageQuery(tenant: tenant, from: from, to: to, groupBy: [])).first
                    let label = "\(backend) \(tenant ?? "all") [\(from.map { $0 - clock.now } ?? -1), \(to.map { $0 - clock.now } ?? -1))"
                    #expect((row?.requests ?? 0) == Int64(inRange.count), "\(label)")
                    #expect((row?.hits ?? 0) == Int64(inRange.filter { $0.outcome == .hit }.count), "\(label)")
                    #expect((row?.billedTokens ?? 0) == inRange.map(\.billedTokens).reduce(0, +), "\(label)")
                    #expect((row?.savedTokens ?? 0) == inRange.filter { $0.outcome == .hit }.map { $0.meteredTokens - $0.billedTokens }.reduce(0, +), "\(label)")
                    let seconds = inRange.filter { $0.outcome == .hit }.map(\.modelSeconds).reduce(0, +)
                    #expect(abs((row?.modelSecondsSaved ?? 0) - seconds) < 1e-9, "\(label)")
                }
            }
            // Grouped by hour and key over a range cut inside hours: each group exactly its records.
            let (from, to) = (clock.now + 1800, clock.now + 30_000.5)
            let rows = try await ledger.usage(UsageQuery(tenant: "acme", from: from, to: to, groupBy: [.hour, .key]))
            var expected: [String: Int64] = [:]
            for record in run where record.tenant == "acme" && record.time >= from && record.time < to {
                expected["\(UsageCount.hour(of: record.time))/\(record.keyID)", default: 0] += 1
            }
            let formatter = ISO8601DateFormatter()
            var actual: [String: Int64] = [:]
            for row in rows {
                let label = try #require(row.hour).replacingOccurrences(of: ":00Z", with: ":00:00Z")
                let hour = try #require(formatter.date(from: label))
                let keyID = try #require(row.keyID)
                actual["\(hour.timeIntervalSince1970)/\(keyID)"] = row.requests
            }
            #expect(actual == expected)
        }
    }

    @Test(arguments: Backend.enabled)
    func aPrepaidBalanceStartingInsideAnHourCountsOnlyWhatFollows(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            // 30 tokens billed in the first 20 minutes of the hour, before the balance starts.
            try await ledger.record((0..<3).map { usageRecord(.miss, at: clock.now + Double($0) * 400, metered: 10, billed: 10) })
            clock.advance(by: 1234)
            try await ledger.topUp(tenant: "acme", keyID: nil, tokens: 100)
            // 40 tokens after it in the same hour, 50 in the next hours.
            try await ledger.record((0..<4).map { usageRecord(.miss, at: clock.now + 10 + Double($0) * 100, metered: 10, billed: 10) })
            try await ledger.record((0..<5).map { usageRecord(.miss, at: clock.now + 3600 + Double($0) * 2000, metered: 10, billed: 10) })
            // 100 − 90 = 10 left: 10 tokens fit, 11 do not.
            let later = clock.now + 4 * 3600
            let error = try await #require(throws: LedgerError.self) {
                _ = try await ledger.reserve(tenant: "acme", keyID: "key_0123456789ab", tokens: 11, at: later)
            }
            #expect(error.quotaExceeded?.used == 90)
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_0123456789ab", tokens: 10, at: later)
        }
    }

    @Test(arguments: Backend.enabled)
    func recordsWrittenBeforeTheHourlyCountsAreCountedWhenTheLedgerIsUpgraded(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            // Schema 6 (SQLite) and 5 (PostgreSQL): records without hourly counts.
            try await store.createSchema(version: backend == .sqlite ? 6 : 5, then: [
                """
                INSERT INTO usage (time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds)
                VALUES (\(clock.now + 10), 'acme', 'key_a', 'ocr', 'miss', 10, 10, 900, 200, 1.0),
                       (\(clock.now + 20), 'acme', 'key_a', 'ocr', 'miss', 12, 12, 900, 200, 1.0),
                       (\(clock.now + 3700), 'acme', 'key_a', 'ocr', 'hit', 10, 1, 90, 200, 1.0)
                """,
            ])
            let ledger = try await store.open(clock: clock)
            // A whole day: read from the counts only, which the upgrade filled from the records.
            let row = try #require(try await ledger.usage(UsageQuery(from: clock.now, to: clock.now + 86_400, groupBy: [])).first)
            #expect((row.requests, row.misses, row.hits, row.billedTokens, row.savedTokens) == (3, 2, 1, 23, 9))
            try await ledger.record([usageRecord(.miss, at: clock.now + 30, keyID: "key_a", metered: 5, billed: 5)])
            let after = try #require(try await ledger.usage(UsageQuery(from: clock.now, to: clock.now + 86_400, groupBy: [])).first)
            #expect((after.requests, after.billedTokens) == (4, 28))
            try await ledger.close()
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    /// Schema 8 replaces the SQLite trigger that counts billed records per hour (its `IN` list opened a
    /// temporary b-tree on every insert) with one that compares in place; a ledger upgraded from 7 counts
    /// every outcome as before: tokens saved only for answers served from cache.
    @Test func theUpgradedHourlyTriggerCountsWhatTheOldOneCounted() async throws {
        let store = try LedgerStore(.sqlite)
        do {
            try await store.createSchema(version: 7)
            let ledger = try await store.open(clock: clock)
            let outcomes: [Outcome] = [.hit, .coalesced, .stale, .miss, .negative, .bypass, .error]
            try await ledger.record(outcomes.enumerated().map { index, outcome in
                UsageRecord(time: clock.now + Double(index), tenant: "acme", keyID: "key_a", task: "ocr", outcome: outcome,
                            meteredTokens: 10, billedTokens: 3, latencyMicros: 100, status: 200, modelSeconds: 0.5)
            })
            // A whole hour: read from the counts the trigger wrote.
            let row = try #require(try await ledger.usage(UsageQuery(from: clock.now, to: clock.now + 3600, groupBy: [])).first)
            #expect((row.requests, row.billedTokens, row.savedTokens) == (7, 21, 21))
            #expect(abs(row.modelSecondsSaved - 1.5) < 1e-9)
            try await ledger.close()
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }
}
