@testable import DejaLedger
import DejaCore
import Foundation
import Testing

/// An `Idempotency-Key` is bound to the request it was first used for: a retry of that request is answered
/// once and billed once, a reuse for another request is refused, and concurrent requests under one key run
/// one model call between them.
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

    /// The fingerprint of request `n` (a document the gateway fingerprinted).
    func request(_ n: UInt8) -> IdempotencyFingerprint {
        IdempotencyFingerprint(bytes: (0..<32).map { UInt8(truncatingIfNeeded: Int(n) &* 31 &+ $0) })!
    }

    /// Opens two ledgers on one fresh store, as two gateway instances sharing a database; closes both and
    /// destroys the store however `body` ends.
    func withTwoInstances(_ backend: Backend, _ body: ([any Ledger]) async throws -> Void) async throws {
        let store = try LedgerStore(backend)
        var instances: [any Ledger] = []
        do {
            for _ in 0..<2 { instances.append(try await store.open(clock: clock)) }
            try await body(instances)
        } catch {
            for instance in instances { try? await instance.close() }
            await store.destroy()
            throw error
        }
        for instance in instances { try await instance.close() }
        await store.destroy()
    }

    func refusal(_ body: () async throws -> Void) async throws -> LedgerError.Code {
        try await #require(throws: LedgerError.self) { try await body() }.code
    }

    @Test(arguments: Backend.enabled)
    func aClaimedRequestIsAnsweredOnceAndItsRetriesReplayTheAnswer(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 10))
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "req-1") == nil)
            let claim = try await ledger.claimIdempotency(tenant: "acme", key: "req-1", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
            let held = try #require(claim.lease)
            #expect(held.tenant == "acme" && held.key == "req-1" && held.fingerprint == request(1))
            #expect(held.expiresAt == clock.now + 30)
            #expect(held.id.hasPrefix("idl_") && held.id.count == 28)

            let reservation = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)
            let stored = response("{\"first\":true}")
            try await ledger.storeIdempotentResponse(
                stored, tenant: "acme", key: "req-1", fingerprint: request(1),
                records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [reservation]
            )
            clock.advance(by: 5)
            for _ in 0..<3 {
                let retry = try await ledger.claimIdempotency(tenant: "acme", key: "req-1", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                #expect(retry == .completed(stored))
            }
            let inspected = try #require(try await ledger.idempotentResponse(tenant: "acme", key: "req-1"))
            #expect(inspected.response == stored && inspected.fingerprint == request(1))
            // The key is per tenant.
            _ = try #require(try await ledger.claimIdempotency(tenant: "globex", key: "req-1", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)

            let row = try #require(try await ledger.usage(UsageQuery()).first)
            #expect(row.requests == 1 && row.billedTokens == 10)
            // The reservation was settled by the answer's record: the budget counts the 10 billed tokens once.
            let full = try await #require(throws: LedgerError.self) {
                try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 1, at: clock.now)
            }
            #expect(full.quotaExceeded?.used == 10 && full.quotaExceeded?.reserved == 0)
        }
    }

    @Test(arguments: Backend.enabled)
    func aSecondAnswerToTheSameRequestConflictsAndIsNotBilled(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 15))
            let first = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)
            let stored = response("{\"first\":true}")
            try await ledger.storeIdempotentResponse(
                stored, tenant: "acme", key: "req-1", fingerprint: request(1),
                records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [first]
            )
            // A duplicate that answered anyway (its lease had expired) cannot store (or bill) a second answer.
            let second = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
            let code = try await refusal {
                try await ledger.storeIdempotentResponse(
                    response("{\"second\":true}"), tenant: "acme", key: "req-1", fingerprint: request(1),
                    records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [second]
                )
            }
            #expect(code == .idempotencyConflict)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "req-1", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .completed(stored))
            #expect(try await ledger.records(UsageQuery()).count == 1)
            // The losing request's reservation was released: 5 tokens are free again.
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 5, at: clock.now)
        }
    }

    @Test(arguments: Backend.enabled)
    func reusingAKeyForAnotherRequestIsRefusedAndWritesNothing(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            try await ledger.setQuota(Quota(tenant: "acme", keyID: "key_a", period: .day, limit: 10))
            // While the first request is in progress…
            let held = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 30) == .mismatch)
            let early = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)
            let code = try await refusal {
                try await ledger.storeIdempotentResponse(
                    response("{\"doc\":2}"), tenant: "acme", key: "k", fingerprint: request(2),
                    records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [early]
                )
            }
            #expect(code == .idempotencyMismatch)
            #expect(try await ledger.records(UsageQuery()).isEmpty)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == nil)

            // …and once it was answered.
            let answer = response("{\"doc\":1}")
            try await ledger.storeIdempotentResponse(answer, tenant: "acme", key: "k", fingerprint: held.fingerprint, records: [], settling: [])
            clock.advance(by: 60)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 30) == .mismatch)
            let late = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)  // `early` was released
            let lateCode = try await refusal {
                try await ledger.storeIdempotentResponse(
                    response("{\"doc\":2}"), tenant: "acme", key: "k", fingerprint: request(2),
                    records: [usageRecord(.miss, at: clock.now, keyID: "key_a", metered: 10, billed: 10)], settling: [late]
                )
            }
            #expect(lateCode == .idempotencyMismatch)
            #expect(try await ledger.records(UsageQuery()).isEmpty)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k")?.response == answer)
            _ = try await ledger.reserve(tenant: "acme", keyID: "key_a", tokens: 10, at: clock.now)  // `late` was released
        }
    }

    @Test(arguments: Backend.enabled)
    func aClaimWhileTheFirstIsLiveWaitsForItsAnswer(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let held = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .inProgress(until: held.expiresAt))
            clock.advance(by: 29.5)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .inProgress(until: held.expiresAt))
            let answer = response("{\"doc\":1}")
            try await ledger.storeIdempotentResponse(answer, tenant: "acme", key: "k", fingerprint: request(1), records: [], settling: [])
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .completed(answer))
            // Completing ended the claim: releasing the lease afterwards changes nothing.
            try await ledger.releaseIdempotency(held)
            clock.advance(by: 100)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .completed(answer))
        }
    }

    @Test(arguments: Backend.enabled)
    func aReleasedKeyCanBeClaimedAgain(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let first = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
            try await ledger.releaseIdempotency(first)  // the model failed: nothing is stored, a retry runs
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == nil)
            let second = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
            #expect(second.id != first.id)
            // A stale lease does not release its successor's claim.
            try await ledger.releaseIdempotency(first)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30)
                == .inProgress(until: second.expiresAt))
            // A released key is free for any request: nothing was answered under it.
            try await ledger.releaseIdempotency(second)
            try await ledger.releaseIdempotency(second)  // twice is a no-op
            _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 30).lease)
        }
    }

    @Test(arguments: Backend.enabled)
    func anExpiredLeaseIsTakenOverAndItsLateAnswerStillCountsOnce(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let first = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 10).lease)
            clock.advance(by: 10)  // the holder died, or is too slow
            let second = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 10).lease)
            #expect(second.id != first.id && second.expiresAt == clock.now + 10)
            try await ledger.releaseIdempotency(first)  // the old holder gives up: the new claim stands
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 10)
                == .inProgress(until: second.expiresAt))

            // The old holder answers after all: the same request, so its answer is stored and billed…
            let answer = response("{\"late\":true}")
            try await ledger.storeIdempotentResponse(
                answer, tenant: "acme", key: "k", fingerprint: first.fingerprint,
                records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
            )
            // …and the new holder's answer conflicts: it replays the stored one, billed nothing more.
            let code = try await refusal {
                try await ledger.storeIdempotentResponse(
                    response("{\"second\":true}"), tenant: "acme", key: "k", fingerprint: second.fingerprint,
                    records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                )
            }
            #expect(code == .idempotencyConflict)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 10)
                == .completed(answer))
            #expect(try await ledger.usage(UsageQuery()).first?.billedTokens == 10)
        }
    }

    @Test(arguments: Backend.enabled)
    func anExpiredLeaseFreesTheKeyForAnyRequest(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let first = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 10).lease)
            clock.advance(by: 9)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 10) == .mismatch)
            clock.advance(by: 1)
            let other = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 10).lease)
            // The first request's late answer no longer fits the key.
            let code = try await refusal {
                try await ledger.storeIdempotentResponse(
                    response("{\"doc\":1}"), tenant: "acme", key: "k", fingerprint: first.fingerprint,
                    records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                )
            }
            #expect(code == .idempotencyMismatch)
            #expect(try await ledger.records(UsageQuery()).isEmpty)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 10)
                == .inProgress(until: other.expiresAt))
        }
    }

    @Test(arguments: Backend.enabled)
    func concurrentClaimsFromTwoInstancesGiveTheKeyToExactlyOne(_ backend: Backend) async throws {
        try await withTwoInstances(backend) { instances in
            for round in 0..<3 {
                let key = "k\(round)"
                let claims = try await withThrowingTaskGroup(of: (UInt8, IdempotencyClaim).self) { group in
                    for n in 0..<24 {
                        let fingerprint = request(UInt8(n % 3))
                        group.addTask {
                            (UInt8(n % 3), try await instances[n % 2].claimIdempotency(
                                tenant: "acme", key: key, fingerprint: fingerprint, at: clock.now, leaseSeconds: 30
                            ))
                        }
                    }
                    var claims: [(UInt8, IdempotencyClaim)] = []
                    for try await claim in group { claims.append(claim) }
                    return claims
                }
                let winners = claims.compactMap { n, claim -> (UInt8, IdempotencyLease)? in
                    if case .claimed(let lease) = claim { return (n, lease) }
                    return nil
                }
                try #require(winners.count == 1)
                let (winner, held) = winners[0]
                for (n, claim) in claims where claim != .claimed(held) {
                    #expect(claim == (n == winner ? .inProgress(until: held.expiresAt) : .mismatch))
                }
            }
        }
    }

    /// The defect this fixes: different documents sent at once under one key ran a model call each, billed
    /// one, and answered two callers with another document's text.
    @Test(arguments: Backend.enabled)
    func concurrentRequestsUnderOneKeyRunOnceAndNobodyGetsAnotherRequestsAnswer(_ backend: Backend) async throws {
        try await withTwoInstances(backend) { instances in
            // What each caller did: ran the model ("ran n"), replayed an answer ("replayed <body>"), or was refused.
            let outcomes = try await withThrowingTaskGroup(of: (UInt8, String).self) { group in
                for caller in 0..<18 {
                    let document = UInt8(caller % 3)
                    let ledger = instances[caller % 2]
                    group.addTask {
                        while true {
                            let claim = try await ledger.claimIdempotency(
                                tenant: "acme", key: "shared", fingerprint: request(document), at: clock.now, leaseSeconds: 30
                            )
                            switch claim {
                            case .claimed:
                                try await Task.sleep(for: .milliseconds(20))  // the model call
                                try await ledger.storeIdempotentResponse(
                                    response("{\"doc\":\(document)}"), tenant: "acme", key: "shared", fingerprint: request(document),
                                    records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                                )
                                return (document, "ran \(document)")
                            case .inProgress:
                                try await Task.sleep(for: .milliseconds(5))
                            case .completed(let stored):
                                return (document, "replayed " + String(decoding: stored.body.dropLast(2), as: UTF8.self))
                            case .mismatch:
                                return (document, "refused")
                            }
                        }
                    }
                }
                var outcomes: [(UInt8, String)] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            let ran = outcomes.filter { $0.1.hasPrefix("ran") }
            try #require(ran.count == 1)
            let winner = ran[0].0
            for (document, outcome) in outcomes where !outcome.hasPrefix("ran") {
                #expect(outcome == (document == winner ? "replayed {\"doc\":\(winner)}" : "refused"))
            }
            #expect(outcomes.filter { $0.1 == "refused" }.count == 12)
            #expect(try await instances[0].records(UsageQuery()).count == 1)
            #expect(try await instances[1].usage(UsageQuery()).first?.billedTokens == 10)
        }
    }

    @Test(arguments: Backend.enabled)
    func concurrentAnswersToOneRequestStoreAndBillOnce(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        do {
                            try await ledger.storeIdempotentResponse(
                                response("{\"n\":\(n)}"), tenant: "acme", key: "same", fingerprint: request(n % 2 == 0 ? 1 : 2),
                                records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                            )
                            return "stored"
                        } catch let error as LedgerError where error.code == .idempotencyConflict {
                            return "conflict"
                        } catch let error as LedgerError where error.code == .idempotencyMismatch {
                            return "mismatch"
                        }
                    }
                }
                var outcomes: [String] = []
                for try await outcome in group { outcomes.append(outcome) }
                return outcomes
            }
            #expect(outcomes.filter { $0 == "stored" }.count == 1)
            #expect(outcomes.filter { $0 == "conflict" }.count == 9)
            #expect(outcomes.filter { $0 == "mismatch" }.count == 10)
            #expect(try await ledger.usage(UsageQuery()).first?.billedTokens == 10)
            #expect(try await ledger.records(UsageQuery()).count == 1)
        }
    }

    @Test(arguments: Backend.enabled)
    func storedAnswersExpireAfterTheRetentionTime(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock, options: LedgerOptions(idempotencyRetention: 3600)) { ledger in
            let old = response("old")
            try await ledger.storeIdempotentResponse(old, tenant: "acme", key: "k", fingerprint: request(1), records: [], settling: [])
            try await ledger.storeIdempotentResponse(response("other"), tenant: "acme", key: "k2", fingerprint: request(1), records: [], settling: [])
            clock.advance(by: 3599)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(1), at: clock.now, leaseSeconds: 30) == .completed(old))
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k")?.response == old)
            clock.advance(by: 2)
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k") == nil)
            // An expired key may be used again, for any request.
            _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 30).lease)
            let fresh = response("fresh")
            try await ledger.storeIdempotentResponse(fresh, tenant: "acme", key: "k", fingerprint: request(2), records: [], settling: [])
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "k", fingerprint: request(2), at: clock.now, leaseSeconds: 30) == .completed(fresh))
            #expect(try await ledger.purgeExpired().idempotentResponses == 1)  // k2
            #expect(try await ledger.idempotentResponse(tenant: "acme", key: "k")?.response == fresh)
        }
    }

    @Test(arguments: Backend.enabled)
    func purgingDeletesClaimsPastTheirLease(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock, options: LedgerOptions(idempotencyRetention: 3600)) { ledger in
            _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "short", fingerprint: request(1), at: clock.now, leaseSeconds: 10).lease)
            let long = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "long", fingerprint: request(1), at: clock.now, leaseSeconds: 100).lease)
            try await ledger.storeIdempotentResponse(response("answered"), tenant: "acme", key: "done", fingerprint: request(1), records: [], settling: [])
            #expect(try await ledger.purgeExpired().idempotentResponses == 0)
            clock.advance(by: 50)
            #expect(try await ledger.purgeExpired().idempotentResponses == 1)  // "short"
            #expect(try await ledger.purgeExpired().idempotentResponses == 0)
            #expect(try await ledger.claimIdempotency(tenant: "acme", key: "long", fingerprint: request(1), at: clock.now, leaseSeconds: 10)
                == .inProgress(until: long.expiresAt))
            _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "short", fingerprint: request(2), at: clock.now, leaseSeconds: 10).lease)
            clock.advance(by: 3600)
            #expect(try await ledger.purgeExpired().idempotentResponses == 3)  // "long", the new "short", "done"
        }
    }

    @Test(arguments: Backend.enabled)
    func rejectsBadClaims(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            for (tenant, key, lease) in [("", "k", 30.0), ("acme", "", 30), ("acme", "k", 0), ("acme", "k", -1), ("acme", "k", .nan)] {
                let code = try await refusal {
                    _ = try await ledger.claimIdempotency(tenant: tenant, key: key, fingerprint: request(1), at: clock.now, leaseSeconds: lease)
                }
                #expect(code == .invalidArgument)
            }
        }
    }

    /// A database from before fingerprints keeps its answers, but none of them is replayed: nothing says
    /// which request it answered, so it matches none until it expires.
    @Test(arguments: Backend.enabled)
    func upgradesADatabaseAndReplaysNoAnswerStoredWithoutAFingerprint(_ backend: Backend) async throws {
        let store = try LedgerStore(backend)
        do {
            let body = backend == .sqlite ? "X'7B7D'" : "'\\x7b7d'::bytea"
            try await store.createSchema(version: store.currentVersion - 1, then: [
                """
                INSERT INTO idempotency (tenant, key, status, headers, body, created_at)
                VALUES ('acme', 'legacy', 200, '{"x-deja-key":"\(request(1).hex)"}', \(body), \(clock.now))
                """,
                """
                INSERT INTO usage (time, tenant, key_id, task, outcome, metered, billed, latency_us, status, model_seconds)
                VALUES (\(clock.now), 'acme', 'key_a', 'ocr', 'miss', 7, 7, 1, 200, 0)
                """,
            ])
            let ledger = try await store.open(clock: clock, options: LedgerOptions(idempotencyRetention: 3600))
            do {
                let legacy = try #require(try await ledger.idempotentResponse(tenant: "acme", key: "legacy"))
                #expect(legacy.fingerprint == nil && legacy.response.body == Array("{}".utf8) && legacy.response.status == 200)
                for n: UInt8 in [1, 2] {
                    #expect(try await ledger.claimIdempotency(tenant: "acme", key: "legacy", fingerprint: request(n), at: clock.now, leaseSeconds: 30)
                        == .mismatch)
                }
                let code = try await refusal {
                    try await ledger.storeIdempotentResponse(
                        response("new"), tenant: "acme", key: "legacy", fingerprint: request(1),
                        records: [usageRecord(.miss, at: clock.now, metered: 10, billed: 10)], settling: []
                    )
                }
                #expect(code == .idempotencyMismatch)
                #expect(try await ledger.usage(UsageQuery()).first?.billedTokens == 7)
                // New keys work as usual, and the old answer's key is free once it expired.
                _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "new", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
                clock.advance(by: 3601)
                _ = try #require(try await ledger.claimIdempotency(tenant: "acme", key: "legacy", fingerprint: request(1), at: clock.now, leaseSeconds: 30).lease)
                #expect(try await ledger.purgeExpired().idempotentResponses == 2)  // the old answer and the "new" claim
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
}

extension IdempotencyClaim {
    /// The lease when the key was claimed.
    var lease: IdempotencyLease? {
        if case .claimed(let lease) = self { return lease }
        return nil
    }
}
