import DejaCore
import DejaGateway
import DejaLedger
import NIOCore
import Testing

/// The cached-answer policy's table, case by case (see ``CachedAnswerPolicy``).
@Suite struct CachedAnswerPolicyTests {
    /// An answer worth 10 tokens stored at 100, fresh until 200.
    func entry(status: Int = 200, expiresAt: Double = 200) -> CacheEntry {
        CacheEntry(body: ByteBuffer(string: "{}"), status: status, modelVersion: "v", meteredTokens: status == 200 ? 10 : 0,
                   upstreamSeconds: 0.1, createdAt: 100, expiresAt: expiresAt)
    }

    typealias Serving = CachedAnswerPolicy.Serving
    let free = CachedAnswerPolicy()

    @Test func aFreshAnswerIsAFreeImmediateHit() {
        let decision = free.decide(entry(), cacheControl: CacheControl(), now: 150)
        #expect(decision == .serve(Serving(outcome: .hit, billed: 0, reservation: nil)))
        if case .serve(let serving) = decision { #expect(serving.isImmediate) }
    }

    @Test func aPricedHitIsBilledAndNotImmediate() {
        let priced = CachedAnswerPolicy(hitPrice: 0.25)
        let decision = priced.decide(entry(), cacheControl: CacheControl(), now: 150)
        #expect(decision == .serve(Serving(outcome: .hit, billed: 3, reservation: nil)))  // 2.5 rounds to 3
        if case .serve(let serving) = decision { #expect(!serving.isImmediate) }
    }

    @Test func hitsPastBudgetOffHoldAtLeastOneToken() {
        let bound = CachedAnswerPolicy(hitsPastBudget: false)
        #expect(bound.decide(entry(), cacheControl: CacheControl(), now: 150) == .serve(Serving(outcome: .hit, billed: 0, reservation: 1)))
        let boundPriced = CachedAnswerPolicy(hitPrice: 0.5, hitsPastBudget: false)
        #expect(boundPriced.decide(entry(), cacheControl: CacheControl(), now: 150) == .serve(Serving(outcome: .hit, billed: 5, reservation: 5)))
    }

    @Test func maxAgeRefusesOlderAnswers() {
        #expect(free.decide(entry(), cacheControl: CacheControl(maxAge: 10), now: 150) == .unusable)
        #expect(free.decide(entry(), cacheControl: CacheControl(maxAge: 60), now: 150) == .serve(Serving(outcome: .hit, billed: 0, reservation: nil)))
    }

    @Test func noCacheAndNoStoreRefuseEverything() {
        #expect(free.decide(entry(), cacheControl: CacheControl(noCache: true), now: 150) == .unusable)
        #expect(free.decide(entry(), cacheControl: CacheControl(noStore: true), now: 150) == .unusable)
    }

    @Test func aRejectionIsServedAsNegativeFreeAndNeverHeld() {
        let bound = CachedAnswerPolicy(hitPrice: 1, hitsPastBudget: false)
        #expect(bound.decide(entry(status: 422), cacheControl: CacheControl(), now: 150) == .serve(Serving(outcome: .negative, billed: 0, reservation: nil)))
        #expect(bound.decide(entry(status: 422), cacheControl: CacheControl(), now: 250) == .unusable)
    }

    @Test func anExpiredAnswerIsAFallbackOrServedWhileRefreshed() {
        #expect(free.decide(entry(), cacheControl: CacheControl(), now: 250) == .fallback)
        let swr = CachedAnswerPolicy(staleWhileRevalidate: 100)
        #expect(swr.decide(entry(), cacheControl: CacheControl(), now: 250) == .serveAndRefresh(Serving(outcome: .hit, billed: 0, reservation: nil)))
        #expect(swr.decide(entry(), cacheControl: CacheControl(), now: 300) == .fallback)  // the window ends at expiry + SWR
        // A client's max-age also bounds what is served while revalidating.
        #expect(swr.decide(entry(), cacheControl: CacheControl(maxAge: 100), now: 250) == .fallback)
    }

    @Test func servingAsAnotherOutcomeKeepsThePrice() {
        let priced = CachedAnswerPolicy(hitPrice: 0.1)
        #expect(priced.serving(entry(), as: .coalesced) == Serving(outcome: .coalesced, billed: 1, reservation: nil))
        #expect(priced.serving(entry(), as: .stale) == Serving(outcome: .stale, billed: 1, reservation: nil))
        #expect(priced.serving(entry(status: 400), as: .stale) == Serving(outcome: .negative, billed: 0, reservation: nil))
    }
}
