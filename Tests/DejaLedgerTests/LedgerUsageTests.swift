@testable import DejaLedger
import DejaCore
import Foundation
import Testing

@Suite struct LedgerUsageTests {
    let clock = ManualClock(start: newYear2026)

    @Test(arguments: Backend.enabled)
    func reportsTheArithmetic(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now + 3600
            try await ledger.record([
                usageRecord(.hit, at: t, metered: 100, billed: 0, modelSeconds: 1.0),
                usageRecord(.hit, at: t + 1, metered: 50, billed: 5, modelSeconds: 0.5),
                usageRecord(.coalesced, at: t + 2, metered: 100, billed: 0, modelSeconds: 1.0),
                usageRecord(.stale, at: t + 3, metered: 30, billed: 0, modelSeconds: 0.25),
                usageRecord(.miss, at: t + 4, metered: 100, billed: 100, modelSeconds: 2.0),
                usageRecord(.error, at: t + 5),
                usageRecord(.negative, at: t + 6, metered: 10, billed: 10),
                usageRecord(.bypass, at: t + 7, metered: 20, billed: 20, modelSeconds: 1.0),
            ])
            let rows = try await ledger.usage(UsageQuery())
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(row.tenant == "acme")
            #expect(row.task == "ocr")
            #expect(row.day == "2026-01-01")
            #expect(row.keyID == nil)
            #expect(row.requests == 8)
            #expect(row.hits == 2)
            #expect(row.coalesced == 1)
            #expect(row.misses == 1)
            #expect(row.errors == 1)
            // Billed is billed: hits' metered tokens are never added to usage.
            #expect(row.billedTokens == 135)
            #expect(row.savedTokens == 275)
            #expect(abs(row.modelSecondsSaved - 2.75) < 1e-9)
            #expect(abs(row.hitRatio - 3.0 / 7.0) < 1e-12)
        }
    }

    @Test(arguments: Backend.enabled)
    func hitRatioIsZeroWhenEveryRequestFailed(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.record([usageRecord(.error, at: clock.now), usageRecord(.error, at: clock.now)])
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 2)
            #expect(row.errors == 2)
            #expect(row.hitRatio == 0)
            #expect(row.savedTokens == 0)
        }
    }

    @Test(arguments: Backend.enabled)
    func groupsByUTCDayTaskAndTenant(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let midnight = clock.now  // 2026-01-01T00:00:00Z
            try await ledger.record([
                usageRecord(.miss, at: midnight - 0.001, metered: 1, billed: 1),  // 2025-12-31
                usageRecord(.miss, at: midnight, metered: 2, billed: 2),
                usageRecord(.hit, at: midnight + 86_399.5, metered: 4),
                usageRecord(.miss, at: midnight + 86_400, metered: 8, billed: 8),  // 2026-01-02
                usageRecord(.miss, at: midnight + 10, task: "layout", metered: 16, billed: 16),
                usageRecord(.miss, at: midnight + 10, tenant: "globex", metered: 32, billed: 32),
            ])
            let rows = try await ledger.usage(UsageQuery())
            let summary = rows.map { "\($0.day) \($0.tenant ?? "-") \($0.task) \($0.requests) \($0.billedTokens)" }
            #expect(summary == [
                "2025-12-31 acme ocr 1 1",
                "2026-01-01 acme layout 1 16",
                "2026-01-01 acme ocr 2 2",
                "2026-01-01 globex ocr 1 32",
                "2026-01-02 acme ocr 1 8",
            ])
            let acmeOCR = try #require(rows.first { $0.day == "2026-01-01" && $0.tenant == "acme" && $0.task == "ocr" })
            #expect(acmeOCR.hits == 1)
            #expect(acmeOCR.savedTokens == 4)
            #expect(acmeOCR.hitRatio == 0.5)

            let globex = try await ledger.usage(UsageQuery(tenant: "globex"))
            #expect(globex.count == 1)
            #expect(globex.first?.tenant == "globex")
            #expect(globex.first?.billedTokens == 32)
            #expect(try await ledger.usage(UsageQuery(tenant: "nobody")).isEmpty)
        }
    }

    @Test(arguments: Backend.enabled)
    func groupsByKey(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await ledger.record([
                usageRecord(.miss, at: t, keyID: "key_a", metered: 10, billed: 10),
                usageRecord(.hit, at: t + 1, keyID: "key_a", metered: 10),
                usageRecord(.miss, at: t + 86_400, keyID: "key_a", task: "layout", metered: 5, billed: 5),
                usageRecord(.miss, at: t + 2, keyID: "key_b", metered: 7, billed: 7),
                usageRecord(.miss, at: t + 3, tenant: "globex", keyID: "key_c", metered: 1, billed: 1),
            ])
            let byKey = try await ledger.usage(UsageQuery(tenant: "acme", groupBy: [.key]))
            #expect(byKey.map { "\($0.keyID ?? "-") \($0.requests) \($0.billedTokens) \($0.savedTokens)" } == [
                "key_a 3 15 10",
                "key_b 1 7 0",
            ])
            #expect(byKey.allSatisfy { $0.tenant == nil && $0.task == "" && $0.day == "" })

            let byDayAndKey = try await ledger.usage(UsageQuery(groupBy: [.key, .day, .tenant]))
            #expect(byDayAndKey.map { "\($0.day) \($0.tenant ?? "-") \($0.keyID ?? "-") \($0.requests)" } == [
                "2026-01-01 acme key_a 2",
                "2026-01-01 acme key_b 1",
                "2026-01-01 globex key_c 1",
                "2026-01-02 acme key_a 1",
            ])

            let total = try await ledger.usage(UsageQuery(groupBy: []))
            #expect(total.count == 1)
            #expect(total.first?.requests == 5)
            #expect(total.first?.billedTokens == 23)
            #expect(try await ledger.usage(UsageQuery(tenant: "nobody", groupBy: [])).isEmpty)
        }
    }

    @Test(arguments: Backend.enabled)
    func groupsByHourAndStatus(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now  // 2026-01-01T00:00Z
            var quota = usageRecord(.error, at: t + 3600 + 7, billed: 0)
            quota.status = 429
            try await ledger.record([
                usageRecord(.miss, at: t + 5, metered: 10, billed: 10),
                usageRecord(.hit, at: t + 3599.5, metered: 10),
                usageRecord(.error, at: t + 3600),  // the first second of the next hour; 502
                quota,
                usageRecord(.hit, at: t + 86_400 + 2 * 3600, tenant: "globex", metered: 4),
            ])
            let byHour = try await ledger.usage(UsageQuery(groupBy: [.hour]))
            #expect(byHour.map { "\($0.hour ?? "-") \($0.requests) \($0.errors) \($0.savedTokens)" } == [
                "2026-01-01T00:00Z 2 0 10",
                "2026-01-01T01:00Z 2 2 0",
                "2026-01-02T02:00Z 1 0 4",
            ])
            #expect(byHour.allSatisfy { $0.day == "" && $0.tenant == nil && $0.status == nil })

            let errors = try await ledger.usage(UsageQuery(tenant: "acme", groupBy: [.task, .status]))
            #expect(errors.map { "\($0.task) \($0.status ?? 0) \($0.requests) \($0.errors)" } == [
                "ocr 200 2 0",
                "ocr 429 1 1",
                "ocr 502 1 1",
            ])
            #expect(errors.allSatisfy { $0.hour == nil })
            let hoursOfADay = try await ledger.usage(UsageQuery(from: t, to: t + 86_400, groupBy: [.day, .hour]))
            #expect(hoursOfADay.map(\.day) == ["2026-01-01", "2026-01-01"])
            #expect(UsageDimension.list("hour,status") == [.hour, .status])
        }
    }

    @Test(arguments: Backend.enabled)
    func reportsEqualTheSumOfTheRecords(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let outcomes: [Outcome] = [.hit, .miss, .coalesced, .stale, .error, .negative, .bypass]
            let written = (0..<70).map { n in
                usageRecord(
                    outcomes[n % outcomes.count], at: clock.now + Double(n) * 4000,
                    tenant: n % 3 == 0 ? "globex" : "acme", keyID: "key_\(n % 4)", task: n % 2 == 0 ? "ocr" : "layout",
                    metered: Int64(n), billed: outcomes[n % outcomes.count] == .miss ? Int64(n) : Int64(n % 3)
                )
            }
            try await ledger.record(written.shuffled())
            let exported = try await ledger.records(UsageQuery())
            #expect(exported == written)  // every field round-trips, ordered by time

            let acme = try await ledger.records(UsageQuery(tenant: "acme", from: clock.now + 40_000, to: clock.now + 200_000))
            #expect(acme == written.filter { $0.tenant == "acme" && $0.time >= clock.now + 40_000 && $0.time < clock.now + 200_000 })

            for groupBy in [UsageQuery.defaultGroupBy, [.key], [.task, .day], [.hour, .status], []] as [[UsageDimension]] {
                let rows = try await ledger.usage(UsageQuery(groupBy: groupBy))
                #expect(rows.reduce(0) { $0 + $1.requests } == Int64(written.count))
                #expect(rows.reduce(0) { $0 + $1.billedTokens } == written.reduce(0) { $0 + $1.billedTokens })
                let saved = written.filter(\.outcome.isServedFromCache).reduce(0) { $0 + $1.meteredTokens - $1.billedTokens }
                #expect(rows.reduce(0) { $0 + $1.savedTokens } == saved)
            }
        }
    }

    @Test(arguments: Backend.enabled)
    func filtersByTimeRange(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await ledger.record((0..<10).map { usageRecord(.miss, at: t + Double($0) * 10, billed: 1) })
            func requests(_ query: UsageQuery) async throws -> Int64 {
                try await ledger.usage(query).reduce(0) { $0 + $1.requests }
            }
            #expect(try await requests(UsageQuery(from: t + 20)) == 8)  // from is inclusive
            #expect(try await requests(UsageQuery(to: t + 20)) == 2)  // to is exclusive
            #expect(try await requests(UsageQuery(from: t + 20, to: t + 50)) == 3)
            #expect(try await requests(UsageQuery(tenant: "acme", from: t + 85)) == 1)
            #expect(try await requests(UsageQuery(tenant: "other", from: t)) == 0)
        }
    }

    @Test(arguments: Backend.enabled)
    func concurrentRecordsAllLandExactlyOnce(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        try await ledger.record([usageRecord(.miss, at: t + Double(n), metered: Int64(n), billed: Int64(n))])
                    }
                }
                group.addTask { _ = try await ledger.createKey(tenant: "acme", name: "during") }
                try await group.waitForAll()
            }
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 200)
            #expect(row.billedTokens == Int64((0..<200).reduce(0, +)))
            #expect(try await ledger.listKeys(tenant: "acme").count == 1)
        }
    }

    @Test(arguments: Backend.enabled)
    func recordsLargeBatches(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let batch = (0..<1234).map { usageRecord(.hit, at: clock.now + Double($0), metered: 3) }
            try await ledger.record(batch)
            try await ledger.record([])
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 1234)
            #expect(row.savedTokens == 3 * 1234)
        }
    }
}
