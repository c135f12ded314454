@testable import DejaLedger
import DejaCore
import Foundation
import Testing

@Suite struct LedgerIdempotencyTests {
    let clock = ManualClock(start: newYear2026)

    func response(_ text: String) -> IdempotentResponse {
        IdempotentResponse(
            status: 200,
            headers: ["content-type": "application/json", "x-deja-cache": "miss", "x-deja-billed-tokens": "10"],
            body: Array(text.utf8) + [0, 255],
            createdAt: clock.now
        )
    }

    @Test(arguments: Backend.enabled)
    func aRetryGetsTheFirstAnswerAndIsBilledOnce(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 15))
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "req-1") == nil)
            let first = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)
            let stored = response("{\"first\":true}")
            try await ledger.storeIdempotentResponse(
                stored, tenant: "acme", key: "req-1",
                records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [first]
            )
            clock.advance(by: 5)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "req-1") == stored)
            // The key is per tenant.
            #expect(try await ledger.idempotentResponse(tenant: "globex", key: "req-1") == nil)

            // A retry that raced past the lookup cannot store (or bill) a second answer.
            let second = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
            let error = try await #require(throws: LedgerError.self) {
                try await ledger.storeIdempotentResponse(
                    response("{\"second\":true}"), tenant: "acme", key: "req-1",
                    records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [second]
                )
            }
            #expect(error.code == .idempotencyConflict)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "req-1") == stored)
            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 1)
            #expect(row.billedTokens == 10)
            // The losing request's reservation was released: 5 tokens are free again.
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
        }
    }

    @Test(arguments: Backend.enabled)
    func concurrentDuplicatesConflictAndBillOnce(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        do {
                            try await ledger.storeIdempotentResponse(
                                response("{\"n\":\(n)}"), tenant: "acme", key: "same",
                                records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                            )
                            return "stored"
                        } catch let error as LedgerError where error.code == .idempotencyConflict {
                            return "conflict"
                        }
                    }
                }
                var outcomes: [String] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == "stored" }.count == 1)
            #expect(outcomes.filter { $0 == "conflict" }.count == 19)
            #expect(try await ledger.usage(UsageQuery()).first?.billedTokens == 10)
            #expect(try await ledger.records(UsageQuery()).count == 1)
        }
    }

    @Test(arguments: Backend.enabled)
    func storedResponsesExpireAfterTheRetentionTime(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock, options: LedgerOptions(idempotencyRetention: 3600)) { ledger in
            let old = response("old")
            try await ledger.storeIdempotentResponse(old, tenant: "acme", key: "k", records: [], settling: [])
            try await ledger.storeIdempotentResponse(response("other"), tenant: "acme", key: "k2", records: [], settling: [])
            clock.advance(by: 3599)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == old)
            clock.advance(by: 2)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == nil)
            // An expired key may be used again.
            let fresh = response("fresh")
            try await ledger.storeIdempotentResponse(fresh, tenant: "acme", key: "k", records: [], settling: [])
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == fresh)
            #expect(try await ledger.purgeExpired().idempotentResponses == 1)  // k2
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == fresh)
        }
    }
}
