@testable import DejaLedger
import DejaCore
import Foundation
import PostgresNIO
import Testing

/// PostgreSQL's `usage` partitioned by month: the plan (pure) and what it does to a real database.
@Suite struct UsagePartitionsTests {
    let clock = ManualClock(start: newYear2026)
    let day = 86_400.0
    /// 2026-02-01, 2026-03-01, 2026-04-01, 2026-05-01 and 2026-06-01.
    let february = 1_769_904_000.0, march = 1_772_323_200.0, april = 1_775_001_600.0, may = 1_777_593_600.0, june = 1_780_272_000.0

    @Test func parsesTheCataloguesBounds() {
        #expect(UsagePartitions.Partition(name: "a", bound: "FOR VALUES FROM (MINVALUE) TO ('1767225600.5')")
            == UsagePartitions.Partition(name: "a", from: nil, to: 1_767_225_600.5))
        #expect(UsagePartitions.Partition(name: "b", bound: "FOR VALUES FROM ('1767225600') TO ('1769904000')")
            == UsagePartitions.Partition(name: "b", from: newYear2026, to: february))
        #expect(UsagePartitions.Partition(name: "c", bound: "DEFAULT") == nil)
        #expect(UsagePartitions.Partition(name: "d", bound: "FOR VALUES FROM ('x') TO ('1')") == nil)
        #expect(UsagePartitions.Partition(name: "e", bound: "FOR VALUES IN (1)") == nil)
    }

    @Test func plansThisMonthAndTheNextAroundWhatExists() {
        let none = UsagePartitions(partitions: [])
        #expect(none.missing(at: newYear2026 + 10 * day) == [
            .init(name: "usage_2026_01", from: newYear2026, to: february), .init(name: "usage_2026_02", from: february, to: march),
        ])
        // December rolls over into the next year.
        #expect(none.missing(at: newYear2026 - 1).map(\.name) == ["usage_2025_12", "usage_2026_01"])
        // Records from before partitions end inside January: January's partition starts where they end.
        let upgraded = UsagePartitions(partitions: [.init(name: "usage_before_partitions", from: nil, to: newYear2026 + 5.5 * day)])
        #expect(upgraded.missing(at: newYear2026 + 3 * day) == [
            .init(name: "usage_2026_01", from: newYear2026 + 5.5 * day, to: february), .init(name: "usage_2026_02", from: february, to: march),
        ])
        // Nothing twice; a month something else overlaps is left to the default partition.
        let covered = UsagePartitions(partitions: none.missing(at: newYear2026))
        #expect(covered.missing(at: newYear2026 + 20 * day).isEmpty)
        #expect(covered.missing(at: february + day).map(\.name) == ["usage_2026_03"])
        // A partition inside a month: the month's starts where it ends (the default keeps the days before).
        let odd = UsagePartitions(partitions: [.init(name: "x", from: march + day, to: march + 2 * day)])
        #expect(odd.missing(at: february + day) == [
            .init(name: "usage_2026_02", from: february, to: march), .init(name: "usage_2026_03", from: march + 2 * day, to: april),
        ])
        // One that reaches past a month's end: that month is left to the default, the next starts after it.
        let long = UsagePartitions(partitions: [.init(name: "y", from: march + day, to: april + day)])
        #expect(long.missing(at: march) == [.init(name: "usage_2026_04", from: april + day, to: may)])
    }

    @Test func retentionCutsAtTheStartOfAMonth() {
        #expect(UsagePartitions.cutoff(recordsBefore: march + 14.5 * day) == march)
        #expect(UsagePartitions.cutoff(recordsBefore: march) == march)
        let plan = UsagePartitions(partitions: [
            .init(name: "usage_2026_02", from: february, to: march), .init(name: "usage_before_partitions", from: nil, to: newYear2026 + day),
            .init(name: "usage_2026_03", from: march, to: april),
        ])
        #expect(plan.expired(before: march).map(\.name) == ["usage_before_partitions", "usage_2026_02"])
        #expect(plan.expired(before: march - 1).map(\.name) == ["usage_before_partitions"])
    }

    // MARK: On PostgreSQL

    /// Where each record is stored, by time: the partition's name.
    func placement(_ store: LedgerStore) async throws -> [Double: String] {
        try await store.withPostgres { client in
            var found: [Double: String] = [:]
            for try await (time, table) in try await client.query("SELECT time, tableoid::regclass::text FROM usage").decode((Double, String).self) {
                found[time] = table
            }
            return found
        }
    }

    func withPostgresLedger(_ body: (PostgresLedger, LedgerStore) async throws -> Void) async throws {
        let store = try LedgerStore(.postgres)
        do {
            let ledger = try #require(try await store.open(clock: clock) as? PostgresLedger)
            do {
                try await body(ledger, store)
            } catch {
                try? await ledger.close()
                throw error
            }
            try await ledger.close()
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }

    @Test(.enabled(if: Backend.postgresURL != nil))
    func recordsGoToTheirMonthAndLaterMonthsTakeTheirRecordsFromTheDefault() async throws {
        try await withPostgresLedger { ledger, store in
            // Opening on 1 January 2026 added January and February.
            #expect(try await ledger.partitions().partitions.map(\.name).sorted() == ["usage_2026_01", "usage_2026_02"])
            try await ledger.record([
                usageRecord(.miss, at: newYear2026 + 5, metered: 10, billed: 10),
                usageRecord(.miss, at: february + 5, metered: 10, billed: 10),
                usageRecord(.miss, at: april + 5, metered: 10, billed: 10),  // no partition for April yet
            ])
            #expect(try await placement(store) == [newYear2026 + 5: "usage_2026_01", february + 5: "usage_2026_02", april + 5: "usage_default"])
            try await ledger.preparePartitions(at: april + 10 * day)
            #expect(try await placement(store)[april + 5] == "usage_2026_04")
            #expect(try await ledger.partitions().partitions.map(\.name).sorted() == ["usage_2026_01", "usage_2026_02", "usage_2026_04", "usage_2026_05"])
            // Moving them changed no report: every record once, in the records and in the hourly counts.
            #expect(try await ledger.records(UsageQuery()).count == 3)
            let total = try #require(try await ledger.usage(UsageQuery(from: newYear2026, to: june, groupBy: [])).first)
            #expect((total.requests, total.billedTokens) == (3, 30))
            try await ledger.preparePartitions(at: april + 11 * day)  // nothing left to add
            #expect(try await ledger.partitions().partitions.count == 4)
        }
    }

    @Test(.enabled(if: Backend.postgresURL != nil))
    func retentionDropsWholeMonths() async throws {
        try await withPostgresLedger { ledger, store in
            try await ledger.preparePartitions(at: march)
            let times = [newYear2026 + 5, february + 5, february + 20 * day, march + 5, march + 10 * day, march + 20 * day]
            try await ledger.record(times.map { usageRecord(.miss, at: $0, metered: 10, billed: 10) })
            // Kept for records younger than 15 March: January and February go, all of March stays.
            var steps = 0
            while try await ledger.purgeUsage(recordsBefore: march + 14 * day, countsBefore: nil, limit: 100) > 0 { steps += 1 }
            #expect(steps == 3)  // January's partition, February's, each with an hour of counts; then the third hour's counts
            #expect(try await ledger.partitions().partitions.map(\.name).sorted() == ["usage_2026_03", "usage_2026_04"])
            #expect(try await ledger.records(UsageQuery()).map(\.time) == [march + 5, march + 10 * day, march + 20 * day])
            let total = try #require(try await ledger.usage(UsageQuery(groupBy: [])).first)
            #expect((total.requests, total.billedTokens) == (3, 30))
            _ = store
        }
    }

    @Test(.enabled(if: Backend.postgresURL != nil))
    func aLedgerFromBeforePartitionsKeepsItsRecordsInOnePartitionUntilAllArePast() async throws {
        let store = try LedgerStore(.postgres)
        do {
            try await store.createSchema(version: store.currentVersion - 1, then: [
                """
                INSERT INTO usage (time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds)
                VALUES (\(newYear2026 - 40 * day), 'acme', 'key_a', 'ocr', 'miss', 10, 10, 900, 200, 1.0),
                       (\(newYear2026 + 3 * day), 'acme', 'key_a', 'ocr', 'miss', 12, 12, 900, 200, 1.0)
                """,
            ])
            let ledger = try #require(try await store.open(clock: clock) as? PostgresLedger)
            let parts = try await ledger.partitions().partitions.sorted { ($0.to ?? 0) < ($1.to ?? 0) }
            #expect(parts == [
                .init(name: "usage_before_partitions", from: nil, to: newYear2026 + 3 * day + 1),
                .init(name: "usage_2026_01", from: newYear2026 + 3 * day + 1, to: february),
                .init(name: "usage_2026_02", from: february, to: march),
            ])
            // Ids go on from the old table's.
            try await ledger.record([usageRecord(.miss, at: newYear2026 + 4 * day, metered: 5, billed: 5)])
            let ids = try await store.withPostgres { client in
                var ids: [Int64] = []
                for try await id in try await client.query("SELECT id FROM usage ORDER BY id").decode(Int64.self) { ids.append(id) }
                return ids
            }
            #expect(ids == [1, 2, 3])
            #expect(try await placement(store)[newYear2026 + 4 * day] == "usage_2026_01")
            // A cutoff inside the old records' range deletes them by row; past it, the partition goes.
            while try await ledger.purgeUsage(recordsBefore: newYear2026 - day, countsBefore: nil, limit: 10) > 0 {}
            #expect(try await ledger.records(UsageQuery()).count == 2)
            #expect(try await ledger.partitions().partitions.contains { $0.name == "usage_before_partitions" })
            while try await ledger.purgeUsage(recordsBefore: february, countsBefore: nil, limit: 10) > 0 {}
            #expect(try await ledger.partitions().partitions.map(\.name).sorted() == ["usage_2026_02"])
            #expect(try await ledger.records(UsageQuery()).isEmpty)
            try await ledger.close()
        } catch {
            await store.destroy()
            throw error
        }
        await store.destroy()
    }
}
