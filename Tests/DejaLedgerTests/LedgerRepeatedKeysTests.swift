@testable import DejaLedger
import DejaCore
import Testing

/// The most repeated content keys, over both backends.
@Suite struct LedgerRepeatedKeysTests {
    let clock = ManualClock(start: newYear2026)

    func key(_ n: UInt8) -> CacheKey { CacheKey(bytes: [UInt8](repeating: n, count: 32))! }

    func record(_ outcome: Outcome, _ key: CacheKey?, at time: Double, tenant: String = "acme", task: String = "ocr",
                metered: Int64 = 10, billed: Int64 = 0) -> UsageRecord {
        var record = usageRecord(outcome, at: time, tenant: tenant, task: task, metered: metered, billed: billed)
        record.contentKey = key
        return record
    }

    @Test(arguments: Backend.enabled)
    func countsAnsweredRequestsPerKeyMostFirst(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await ledger.record([
                record(.miss, key(1), at: t, billed: 10),
                record(.hit, key(1), at: t + 1),
                record(.hit, key(1), at: t + 2, tenant: "globex"),
                record(.miss, key(2), at: t + 3, billed: 10),
                record(.coalesced, key(2), at: t + 4, billed: 2),
                record(.miss, key(3), at: t + 5, task: "sentiment", billed: 10),
                record(.error, key(3), at: t + 6, metered: 0),
                record(.error, key(3), at: t + 7, metered: 0),
                record(.error, nil, at: t + 8, metered: 0),  // rejected before a key was derived
            ])
            let all = try await ledger.repeatedKeys(RepeatedKeysQuery())
            #expect(all.map(\.key) == [key(1), key(2), key(3)])  // errors are not requests answered
            let first = try #require(all.first)
            #expect(first.requests == 3 && first.cached == 2 && first.task == "ocr")
            #expect(first.firstSeen == t && first.lastSeen == t + 2)
            #expect(first.savedTokens == 20)
            #expect(all[1].requests == 2 && all[1].cached == 1 && all[1].savedTokens == 8)

            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(limit: 1)).map(\.key) == [key(1)])
            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(task: "sentiment")).map(\.key) == [key(3)])
            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(tenant: "globex")).map(\.requests) == [1])
            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(from: t + 3)).map(\.key) == [key(2), key(3)])
            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(key: key(2))).map(\.key) == [key(2)])
            #expect(try await ledger.repeatedKeys(RepeatedKeysQuery(tenant: "globex", key: key(2))).isEmpty)
            // The key survives the round trip through the record export.
            #expect(try await ledger.records(UsageQuery()).compactMap(\.contentKey).count == 8)
        }
    }
}
