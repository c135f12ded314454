import DejaGateway
import Testing

@Suite struct ConcurrencyLimiterTests {
    @Test func grantsUpToTheLimitThenQueuesThenRefuses() async throws {
        let limiter = ConcurrencyLimiter(limit: 2, maxQueue: 1)
        try await limiter.acquire()
        try await limiter.acquire()
        #expect(limiter.load.inFlight == 2)
        async let queued: Void = limiter.acquire()
        while limiter.load.queued < 1 { await Task.yield() }
        await #expect(throws: ConcurrencyLimiter.QueueFull.self) { try await limiter.acquire() }
        limiter.release()                 // handed straight to the queued caller
        try await queued
        #expect(limiter.load == (inFlight: 2, queued: 0))
        limiter.release()
        limiter.release()
        #expect(limiter.load == (inFlight: 0, queued: 0))
    }

    @Test func neverMoreThanTheLimitRunAtOnce() async throws {
        let limiter = ConcurrencyLimiter(limit: 3, maxQueue: 1000)
        let running = Counter()
        let peak = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await limiter.acquire()
                    running.increment()
                    peak.raise(to: running.value)
                    await Task.yield()
                    running.decrement()
                    limiter.release()
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.value <= 3)
        #expect(peak.value >= 1)
        #expect(limiter.load == (inFlight: 0, queued: 0))
    }
}
