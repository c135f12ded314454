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

    @Test func anErrorRateOpensTheBreakerWithoutConsecutiveFailures() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 5, openSeconds: 10, errorRate: 0.5, window: 10, minimumCalls: 10,
                                     clock: clock.wallClock)
        // Every other call fails: never two failures in a row, yet half of all calls fail.
        for call in 0..<9 {
            breaker.record(success: call % 2 == 0)
            #expect(breaker.state == .closed, "call \(call): the window is not full enough to judge yet")
        }
        breaker.record(success: false)  // the 10th call: 5 failures out of 10
        #expect(breaker.state == .open)
        #expect(breaker.decide() == .reject(retryAfter: 10))
    }

    @Test func anErrorRateBelowTheThresholdKeepsTheBreakerClosed() {
        let breaker = CircuitBreaker(failureThreshold: 5, errorRate: 0.5, window: 10, minimumCalls: 10, clock: ManualClock().wallClock)
        // One failure in three, for long: the window always holds fewer than half failures.
        for call in 0..<60 {
            breaker.record(success: call % 3 != 0)
        }
        #expect(breaker.state == .closed)
    }

    @Test func theWindowForgetsOldFailuresAndASuccessfulProbeClearsIt() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 100, openSeconds: 5, errorRate: 0.5, window: 10, minimumCalls: 10,
                                     clock: clock.wallClock)
        for _ in 0..<4 { breaker.record(success: false) }
        for _ in 0..<10 { breaker.record(success: true) }  // the four failures slide out of the window
        for _ in 0..<4 { breaker.record(success: false) }
        #expect(breaker.state == .closed)  // 4 of the last 10
        breaker.record(success: false)
        #expect(breaker.state == .open)  // 5 of the last 10
        clock.advance(by: 5)
        #expect(breaker.decide() == .allow)
        breaker.record(success: true)
        #expect(breaker.state == .closed)
        breaker.record(success: false)  // a clean window: 1 failure out of 1 call is not enough to judge
        #expect(breaker.state == .closed)
    }

    @Test func aLateSuccessDoesNotCloseAnOpenBreaker() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 2, openSeconds: 5, clock: clock.wallClock)
        #expect(breaker.decide() == .allow)  // a slow call let through before the breaker opens
        breaker.record(success: false)
        breaker.record(success: false)
        #expect(breaker.state == .open)
        breaker.record(success: true)  // the slow call ends well: says nothing about recovery
        #expect(breaker.state == .open)
        #expect(breaker.decide() == .reject(retryAfter: 5))
    }

    @Test func anAbandonedProbeLetsTheNextOneThrough() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 1, openSeconds: 5, clock: clock.wallClock)
        breaker.record(success: false)
        clock.advance(by: 5)
        #expect(breaker.decide() == .allow)  // the probe
        #expect(breaker.decide() == .reject(retryAfter: 1))
        breaker.abandon()  // cancelled: no verdict
        #expect(breaker.state == .halfOpen)
        #expect(breaker.decide() == .allow)  // another probe, not a breaker stuck half-open
        breaker.record(success: true)
        #expect(breaker.state == .closed)
    }

    @Test func anInfiniteErrorRateTurnsTheRateOff() {
        let breaker = CircuitBreaker(failureThreshold: 3, errorRate: .infinity, window: 10, minimumCalls: 10, clock: ManualClock().wallClock)
        for call in 0..<50 { breaker.record(success: call % 2 == 0) }
        #expect(breaker.state == .closed)
    }
}

@Suite struct UpstreamPoolTests {
    @Test func callsRotateOverTheServersThatAreUpAndTryTheOthersLast() {
        let servers = (1...3).map { Upstream(url: "http://10.0.0.\($0):8866/ocr") }
        let pool = UpstreamPool(servers)
        let firsts = (0..<6).map { _ in pool.candidates()[0].url }
        #expect(Set(firsts).count == 3)  // round robin reaches every server
        #expect(firsts[0] != firsts[1])
        servers[1].recordHealth(ok: false)
        #expect(servers[1].isUp)  // one failed check is not enough
        servers[1].recordHealth(ok: false)
        #expect(!servers[1].isUp)
        for _ in 0..<6 {
            let order = pool.candidates()
            #expect(order.count == 3)
            #expect(order.last === servers[1])  // a server that is down is the last resort, not gone
        }
        // The two servers that are up share the calls evenly.
        let firstsWhileDown = (0..<100).map { _ in pool.candidates()[0] }
        #expect(firstsWhileDown.filter { $0 === servers[0] }.count == 50)
        #expect(firstsWhileDown.filter { $0 === servers[2] }.count == 50)
        servers[1].recordHealth(ok: true)
        #expect(servers[1].isUp)
    }

    @Test func failuresFromOneTenantAloneNeverOpenIt() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 3, openSeconds: 10, errorRate: 0.5, window: 20, minimumCalls: 10,
                                     minimumSources: 2, clock: clock.wallClock)
        for _ in 0..<50 { breaker.record(success: false, source: "poisoner") }
        #expect(breaker.state == .closed)
        #expect(breaker.decide() == .allow)
    }

    @Test func failuresSpreadOverTenantsOpenIt() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 3, openSeconds: 10, minimumSources: 2, clock: clock.wallClock)
        breaker.record(success: false, source: "a")
        breaker.record(success: false, source: "a")
        breaker.record(success: false, source: "a")
        #expect(breaker.state == .closed)
        breaker.record(success: false, source: "b")
        #expect(breaker.state == .open)
    }

    @Test func anUnreachableServerOpensItWhoeverAsked() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 3, openSeconds: 10, minimumSources: 2, clock: clock.wallClock)
        breaker.record(success: false, source: "a")
        breaker.record(success: false, source: "a")
        breaker.record(success: false)  // connection refused: nobody's input
        #expect(breaker.state == .open)
    }

    @Test func theErrorRateCountsOnlySpreadFailures() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 100, openSeconds: 10, errorRate: 0.5, window: 20, minimumCalls: 10,
                                     minimumSources: 2, clock: clock.wallClock)
        for _ in 0..<10 {
            breaker.record(success: false, source: "poisoner")
            breaker.record(success: true, source: "honest")
        }
        #expect(breaker.state == .closed)
        breaker.record(success: false, source: "other")
        #expect(breaker.state == .open)
    }
}

