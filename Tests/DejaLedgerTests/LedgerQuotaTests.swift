@testable import DejaLedger
import DejaCore
import Foundation
import Testing

@Suite struct LedgerQuotaTests {
    let clock = ManualClock(start: newYear2026)

    /// A miss as the gateway bills it: reserve, then record the actual meter settling the reservation.
    func miss(_ ledger: any Ledger, tenant: String = "acme", key: String = "key_a", reserve: Int64, bill: Int64, at time: Double) async throws {
        let reservation = try await ledger.reserve(tenant: tenant, keyID: key, tokens: reserve, at: time)
        try await ledger.record(
            [usageRecord(.miss, at: time, tenant: tenant, keyID: key, metered: bill, billed: bill)],
            settling: [reservation]
        )
    }

    func refusal(_ body: () async throws -> Void) async throws -> QuotaExceeded {
        let error = try await #require(throws: LedgerError.self) { try await body() }
        #expect(error.code == .quotaExceeded)
        return try #require(error.quotaExceeded)
    }

    @Test(arguments: Backend.enabled)
    func setsListsAndRemovesQuotas(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            try await ledger.setQuota(Quota(tenant: "acme", period: .month, limit: 1000))
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 200))  // replaces
            try await ledger.setQuota(Quota(tenant: "globex", period: .day, limit: 5))
            #expect(try await ledger.quotas(tenant: "acme") == [
                Quota(tenant: "acme", keyID: nil, period: .month, limit: 1000),
                Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 200),
            ])
            #expect(try await ledger.removeQuota(tenant: "acme", keyID: nil, period: .month))
            #expect(try await ledger.removeQuota(tenant: "acme", keyID: nil, period: .month) == false)
            #expect(try await ledger.quotas(tenant: "acme").count == 1)
            let error = try await #require(throws: LedgerError.self) {
                try await ledger.setQuota(Quota(tenant: "acme", period: .day, limit: -1))
            }
            #expect(error.code == .invalidArgument)
        }
    }

    @Test(arguments: Backend.enabled)
    func withoutAQuotaReservesTrivially(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "other", period: .day, limit: 0))
            for _ in 0..<3 {
                let reservation = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1_000_000, at: clock.now)
                #expect(reservation.tokens == 1_000_000)
                #expect(!reservation.holds, "nothing is stored when no budget applies")
                try await ledger.release(reservation)
            }
            let reservation = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
            try await ledger.record([usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 5, billed: 5)], settling: [reservation])
            #expect(try await ledger.usage(UsageQuery()).first?.billedTokens == 5)
        }
    }

    @Test(arguments: Backend.enabled)
    func reservesReleasesAndSettlesToTheActualMeter(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now + 100
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            let held = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 100, at: t)
            #expect(held.tenant == "acme" && held.keyID == "key_a" && held.tokens == 100 && held.time == t)
            let refused = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: t) }
            #expect(refused.used == 0 && refused.reserved == 100 && refused.requested == 1)
            // Another key of the tenant has no budget of its own and none for the tenant.
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_b", tokens: 500, at: t)

            try await ledger.release(held)  // refund: the upstream failed
            try await ledger.release(held)  // twice is a no-op
            // Reserve 50, the actual meter says 20: the budget counts 20.
            try await miss(ledger, reserve: 50, bill: 20, at: t)
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 80, at: t)
            let full = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: t) }
            #expect(full.used == 20 && full.reserved == 80)
            #expect(full.remaining == 0)
        }
    }

    /// One `record` call settling several held reservations (and one that holds nothing) with several
    /// records: all settled at once (PostgreSQL: one statement), the budget counts what was billed.
    @Test(arguments: Backend.enabled)
    func oneRecordSettlesSeveralReservations(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now + 100
            try await ledger.setQuota(Quota(tenant: "acme", period: .day, limit: 100))
            let first = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 40, at: t)
            let second = try await ledger.reserve(tenant: "acme", keyID: "key_b", tokens: 40, at: t)
            let free = try await ledger.reserve(tenant: "globex", keyID: "key_g", tokens: 40, at: t)
            #expect(first.holds && second.holds && !free.holds)
            let held = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 21, at: t) }
            #expect(held.reserved == 80)
            try await ledger.record([
                usageRecord(.miss, at: t, tenant: "acme", keyID: "key_a", metered: 10, billed: 10),
                usageRecord(.miss, at: t, tenant: "acme", keyID: "key_b", metered: 15, billed: 15),
                usageRecord(.miss, at: t, tenant: "globex", keyID: "key_g", metered: 7, billed: 7),
            ], settling: [first, second, free])
            let after = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 76, at: t) }
            #expect(after.used == 25 && after.reserved == 0)
            #expect(try await ledger.usage(UsageQuery()).reduce(0) { $0 + $1.billedTokens } == 32)
        }
    }

    @Test(arguments: Backend.enabled)
    func hitsBilledNothingDoNotSpendTheBudget(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 10))
            try await ledger.record((0..<50).map { _ in usageRecord(.hit, at: t, keyID: "key_a", metered: 10, billed: 0) })
            try await miss(ledger, reserve: 10, bill: 10, at: t)
            _ = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: t) }
        }
    }

    @Test(arguments: Backend.enabled)
    func dailyBudgetResetsAtUTCMidnight(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let day = newYear2026
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            try await miss(ledger, reserve: 60, bill: 60, at: day + 3600)
            let refused = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 50, at: day + 86_399) }
            #expect(refused.quota == Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            #expect(refused.used == 60)
            #expect(refused.resetsAt == day + 86_400)
            #expect(refused.message.contains("daily budget of 100 tokens"))
            #expect(refused.message.contains("2026-01-02T00:00:00Z"))
            // The next UTC day starts from zero.
            try await miss(ledger, reserve: 100, bill: 100, at: day + 86_400)
            _ = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: day + 86_401) }
        }
    }

    @Test(arguments: Backend.enabled)
    func monthlyTenantBudgetCoversEveryKeyAndResetsOnTheFirst(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let february = newYear2026 + 31 * 86_400  // 2026-02-01T00:00:00Z
            try await ledger.setQuota(Quota(tenant: "acme", period: .month, limit: 100))
            try await miss(ledger, key: "key_a", reserve: 70, bill: 70, at: newYear2026 + 5)
            try await miss(ledger, key: "key_b", reserve: 30, bill: 30, at: february - 3600)
            let refused = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_c", tokens: 1, at: february - 1) }
            #expect(refused.quota.keyID == nil)
            #expect(refused.quota.period == .month)
            #expect(refused.used == 100)
            #expect(refused.resetsAt == february)
            #expect(refused.message.contains("2026-02-01T00:00:00Z"))
            // Other tenants are not limited by acme's budget.
            _ = try await ledger.reserve(tenant: "globex", keyID: "key_g", tokens: 1000, at: february - 1)
            try await miss(ledger, key: "key_c", reserve: 100, bill: 100, at: february)
        }
    }

    @Test(arguments: Backend.enabled)
    func keyAndTenantBudgetsBothApply(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let t = clock.now
            try await ledger.setQuota(Quota(tenant: "acme", period: .day, limit: 50))
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 30))
            let keyLimit = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 31, at: t) }
            #expect(keyLimit.quota.keyID == "key_a")
            try await miss(ledger, key: "key_a", reserve: 30, bill: 30, at: t)
            let tenantLimit = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_b", tokens: 21, at: t) }
            #expect(tenantLimit.quota.keyID == nil)
            #expect(tenantLimit.used == 30)
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_b", tokens: 20, at: t)
        }
    }

    @Test(arguments: Backend.enabled)
    func prepaidBalanceOnlyTopUpsRaise(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            // Tokens billed before the balance exists are not drawn from it.
            try await ledger.record([usageRecord(.miss, at: clock.now - 10, keyID: "key_a", metered: 999, billed: 999)])
            try await ledger.topUp(tenant: "acme", keyID: nil, tokens: 50)
            try await miss(ledger, reserve: 30, bill: 30, at: clock.now + 1)
            let refused = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 30, at: clock.now + 86_400 * 40) }
            #expect(refused.quota.period == .prepaid)
            #expect(refused.quota.limit == 50)
            #expect(refused.used == 30)
            #expect(refused.resetsAt == nil)
            #expect(refused.message.contains("top up"))
            try await ledger.topUp(tenant: "acme", keyID: nil, tokens: 20)
            #expect(try await ledger.quotas(tenant: "acme") == [Quota(tenant: "acme", period: .prepaid, limit: 70)])
            try await miss(ledger, reserve: 30, bill: 40, at: clock.now + 86_400 * 40)  // the meter said more
            _ = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: clock.now + 86_400 * 41) }
            let error = try await #require(throws: LedgerError.self) { try await ledger.topUp(tenant: "acme", keyID: nil, tokens: 0) }
            #expect(error.code == .invalidArgument)
        }
    }

    @Test(arguments: Backend.enabled)
    func abandonedReservationsExpire(_ backend: Backend) async throws {
        let options = LedgerOptions(reservationLifetime: 600)
        try await withLedger(backend, clock: clock, options: options) { ledger in
            let t = clock.now
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 100, at: t)  // the gateway crashed
            _ = try await refusal { _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: t + 599) }
            let later = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 100, at: t + 600)
            clock.advance(by: 700)
            let purged = try await ledger.purgeExpired()
            #expect(purged.reservations == 1)
            try await ledger.release(later)
            #expect(try await ledger.purgeExpired().reservations == 0)
        }
    }

    /// 100 concurrent misses of 10 tokens against a budget of 100 bill exactly 10 of them.
    @Test(arguments: Backend.enabled)
    func theRaceAdmitsExactlyTen(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 100))
            let (admitted, refused) = try await race(ledgers: [ledger])
            #expect(admitted == 10)
            #expect(refused == 90)
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.misses == 10)
            #expect(row.billedTokens == 100)
        }
    }

    /// The same race from two ledger instances sharing one database (two gateways).
    @Test(arguments: Backend.enabled)
    func theRaceAcrossTwoInstancesAdmitsExactlyTen(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        let first = try await store.open(clock: clock)
        let second = try await store.open(clock: clock)
        do {
            try await first.setQuota(Quota(tenant: "acme", period: .day, limit: 100))
            let (admitted, refused) = try await race(ledgers: [first, second])
            #expect(admitted == 10)
            #expect(refused == 90)
            #expect(try await second.usage(UsageQuery()).first?.billedTokens == 100)
        } catch {
            try? await first.close()
            try? await second.close()
            await store.destroy()
            throw error
        }
        try await first.close()
        try await second.close()
        await store.destroy()
    }

    func race(ledgers: [any Ledger]) async throws -> (admitted: Int, refused: Int) {
        let t = clock.now + 60
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<100 {
                let ledger = ledgers[n % ledgers.count]
                group.addTask {
                    do {
                        let reservation = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: t)
                        try await ledger.record(
                            [usageRecord(.miss, at: t, keyID: "key_a", metered: 10, billed: 10)], settling: [reservation]
                        )
                        return true
                    } catch let error as LedgerError where error.code == .quotaExceeded {
                        return false
                    }
                }
            }
            var admitted = 0
            var refused = 0
            for try await ok in group {
                if ok { admitted += 1 } else { refused += 1 }
            }
            return (admitted, refused)
        }
    }
}
