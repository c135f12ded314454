import DejaCore
import DejaGateway
import Testing

@Suite struct CircuitBreakerTests {
    @Test func opensAfterConsecutiveFailuresAndRejectsFast() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 3, openSeconds: 10, clock: clock.wallClock)
        for _ in 0..<2 {
            #expect(breaker.decide() == .allow)
            breaker.record(success: false)
        }
        #expect(breaker.state == .closed)
        #expect(breaker.decide() == .allow)
        breaker.record(success: false)
        #expect(breaker.state == .open)
        #expect(breaker.decide() == .reject(retryAfter: 10))
        clock.advance(by: 4)
        #expect(breaker.decide() == .reject(retryAfter: 6))
    }

    @Test func aSuccessResetsTheFailureCount() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 3, openSeconds: 10, clock: clock.wallClock)
        breaker.record(success: false)
        breaker.record(success: false)
        breaker.record(success: true)
        breaker.record(success: false)
        breaker.record(success: false)
        #expect(breaker.state == .closed)
    }

    @Test func halfOpenLetsOneProbeThroughAndClosesOnSuccess() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 1, openSeconds: 5, clock: clock.wallClock)
        breaker.record(success: false)
        #expect(breaker.state == .open)
        clock.advance(by: 5)
        #expect(breaker.state == .halfOpen)
        #expect(breaker.decide() == .allow)          // the probe
        #expect(breaker.decide() == .reject(retryAfter: 1))  // everyone else waits for it
        breaker.record(success: true)
        #expect(breaker.state == .closed)
        #expect(breaker.decide() == .allow)
    }

    @Test func aFailedProbeOpensTheBreakerAgain() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 1, openSeconds: 5, clock: clock.wallClock)
        breaker.record(success: false)
        clock.advance(by: 6)
        #expect(breaker.decide() == .allow)
        breaker.record(success: false)
        #expect(breaker.state == .open)
        #expect(breaker.decide() == .reject(retryAfter: 5))
        clock.advance(by: 5)
        #expect(breaker.decide() == .allow)
    }
}
