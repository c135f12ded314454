@testable import DejaLedger
import DejaCore
import Foundation
import Testing

/// Usage past its retention is deleted oldest first, in small steps: records before their cutoff, hourly
/// counts of hours before theirs; what is younger stays and still adds up in reports.
@Suite struct LedgerRetentionTests {
    let clock = ManualClock(start: newYear2026)

    @Test(arguments: Backend.enabled)
    func purgingInSmallStepsDeletesExactlyWhatIsPastItsRetention(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let hour = 3600.0
            // 48 hours from noon on 31 January: a billed miss every 10 minutes, and a count of 3 hits and an
            // error every hour.
            let start = clock.now + 30.5 * 86_400
            try await ledger.record((0..<288).map { usageRecord(.miss, at: start + Double($0) * 600, metered: 10, billed: 10) })
            var tally = UsageTally()
            for h in 0..<48 {
                for _ in 0..<3 { tally.add(usageRecord(.hit, at: start + Double(h) * hour + 5, metered: 10)) }
                tally.add(usageRecord(.error, at: start + Double(h) * hour + 7))
            }
            try await ledger.count(tally)

            // Records kept from 1 February (PostgreSQL drops January's partition whole), counts from 12 hours
            // later: billing outlives hit counts.
            let recordsBefore = start + 12 * hour, countsBefore = start + 36 * hour
            var steps = 0, deleted = 0
            while true {
                let rows = try await ledger.purgeUsage(recordsBefore: recordsBefore, countsBefore: countsBefore, limit: 7)
                if backend == .sqlite { #expect(rows <= 4 * 7) }  // a small step: at most `limit` rows of each table
                if rows == 0 { break }
                deleted += rows
                steps += 1
            }
            #expect(steps > 10)
            let records = try await ledger.records(UsageQuery())
            #expect(records.count == 288 - 72)
            #expect(records.allSatisfy { $0.time >= recordsBefore })
            let counts = try await ledger.counts(UsageQuery())
            #expect(Set(counts.map(\.group.hour)) == Set((36..<48).map { start + Double($0) * hour }))
            if backend == .sqlite {
                // 72 records and their 12 hourly counts, and for each of 36 hours a hit count and an error
                // count; the key-less hits have no key counts.
                #expect(deleted == 72 + 12 + 36 * 2)
            }
            let row = try #require(try await ledger.usage(UsageQuery(groupBy: [])).first)
            #expect((row.requests, row.misses, row.hits, row.errors) == (216 + 12 * 4, 216, 36, 12))

            // Nothing past its retention: a step deletes nothing.
            #expect(try await ledger.purgeUsage(recordsBefore: recordsBefore, countsBefore: countsBefore, limit: 7) == 0)
            #expect(try await ledger.purgeUsage(recordsBefore: nil, countsBefore: nil, limit: 7) == 0)
        }
    }

    @Test(arguments: Backend.enabled)
    func keyCountsGoWithTheirHour(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            var tally = UsageTally()
            for h in 0..<4 {
                for k in 0..<5 {
                    var hit = usageRecord(.hit, at: clock.now + Double(h) * 3600 + Double(k), metered: 10)
                    hit.contentKey = CacheKey(bytes: [UInt8](repeating: UInt8(k + 1), count: 32))
                    tally.add(hit)
                }
            }
            try await ledger.count(tally)
            while try await ledger.purgeUsage(recordsBefore: nil, countsBefore: clock.now + 2 * 3600, limit: 2) > 0 {}
            let repeated = try await ledger.repeatedKeys(RepeatedKeysQuery())
            #expect(repeated.count == 5 && repeated.allSatisfy { $0.requests == 2 && $0.firstSeen >= clock.now + 2 * 3600 })
        }
    }
}
