@testable import DejaLedger
import Testing

@Suite struct IdempotencyCheckTests {
    @Test func theVerdictReplaysOnlyTheSameRequestAndWaitsOnlyForALiveClaim() throws {
        let one = try #require(IdempotencyFingerprint(bytes: [UInt8](repeating: 1, count: 32)))
        let two = try #require(IdempotencyFingerprint(bytes: [UInt8](repeating: 2, count: 32)))
        let answered = IdempotentResponse(status: 200, headers: [:], body: [1], createdAt: 1000)
        func verdict(_ answer: IdempotencyCheck.Answer?, _ claim: IdempotencyCheck.Claim?, now: Double) -> IdempotencyCheck.Verdict {
            IdempotencyCheck.verdict(answer: answer, claim: claim, fingerprint: one, now: now, retention: 100)
        }
        #expect(verdict(nil, nil, now: 1000) == .free)
        #expect(verdict(.init(response: answered, fingerprint: one), nil, now: 1100) == .answered(answered))  // retention is inclusive
        #expect(verdict(.init(response: answered, fingerprint: one), nil, now: 1100.5) == .free)
        #expect(verdict(.init(response: answered, fingerprint: two), nil, now: 1000) == .mismatch)
        #expect(verdict(.init(response: answered, fingerprint: nil), nil, now: 1000) == .mismatch)
        // A live answer decides even over a claim; an expired one leaves it to the claim.
        #expect(verdict(.init(response: answered, fingerprint: one), .init(fingerprint: two, expiresAt: 2000), now: 1000) == .answered(answered))
        #expect(verdict(.init(response: answered, fingerprint: two), .init(fingerprint: one, expiresAt: 2000), now: 1200) == .inProgress(until: 2000))
        #expect(verdict(nil, .init(fingerprint: one, expiresAt: 2000), now: 1999.5) == .inProgress(until: 2000))
        #expect(verdict(nil, .init(fingerprint: one, expiresAt: 2000), now: 2000) == .free)  // the lease ends at its expiry
        #expect(verdict(nil, .init(fingerprint: two, expiresAt: 2000), now: 1000) == .mismatch)
        #expect(verdict(nil, .init(fingerprint: nil, expiresAt: 2000), now: 1000) == .mismatch)
    }
}
