import DejaCore
import DejaGateway
import Testing

@Suite struct RateLimiterTests {
    @Test func allowsTheBurstThenTheRate() {
        let clock = ManualClock()
        let limiter = RateLimiter(perSecond: 2, burst: 3, clock: clock.wallClock)
        #expect(limiter.take("k") == nil)
        #expect(limiter.take("k") == nil)
        #expect(limiter.take("k") == nil)
        let wait = limiter.take("k")
        #expect(wait != nil && abs(wait! - 0.5) < 1e-9)
        clock.advance(by: 0.5)
        #expect(limiter.take("k") == nil)
        #expect(limiter.take("k") != nil)
    }

    @Test func keysHaveTheirOwnBuckets() {
        let clock = ManualClock()
        let limiter = RateLimiter(perSecond: 1, burst: 1, clock: clock.wallClock)
        #expect(limiter.take("a") == nil)
        #expect(limiter.take("a") != nil)
        #expect(limiter.take("b") == nil)
    }
}
