import DejaGateway
import Synchronization
import Testing

@Suite struct ConcurrencyLimiterTests {
    @Test func grantsUpToTheLimitThenQueuesThenRefuses() async throws {
        let limiter = ConcurrencyLimiter(limit: 2, maxQueue: 1)
        try await limiter.acquire(tenant: "a")
        try await limiter.acquire(tenant: "a")
        #expect(limiter.load.inFlight == 2)
        async let queued: Void = limiter.acquire(tenant: "a")
        while limiter.load.queued < 1 { await Task.yield() }
        await #expect(throws: ConcurrencyLimiter.QueueFull.self) { try await limiter.acquire(tenant: "a") }
        limiter.release(tenant: "a")                 // handed straight to the queued caller
        try await queued
        #expect(limiter.load == (inFlight: 2, queued: 0))
        limiter.release(tenant: "a")
        limiter.release(tenant: "a")
        #expect(limiter.load == (inFlight: 0, queued: 0))
    }

    @Test func neverMoreThanTheLimitRunAtOnce() async throws {
        let limiter = ConcurrencyLimiter(limit: 3, maxQueue: 1000)
        let running = Counter()
        let peak = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await limiter.acquire(tenant: "a")
                    running.increment()
                    peak.raise(to: running.value)
                    await Task.yield()
                    running.decrement()
                    limiter.release(tenant: "a")
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.value <= 3)
        #expect(peak.value >= 1)
        #expect(limiter.load == (inFlight: 0, queued: 0))
    }

    @Test func aReturnedPermitGoesToTheWaitingTenantThatHoldsFewest() async throws {
        let limiter = ConcurrencyLimiter(limit: 2, maxQueue: 100)
        try await limiter.acquire(tenant: "flood")
        try await limiter.acquire(tenant: "flood")
        let order = Order()
        // The flooding tenant queues first, four times; the quiet tenant arrives after them.
        let flood = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await limiter.acquire(tenant: "flood")
                        order.append("flood")
                    }
                }
                try await group.waitForAll()
            }
        }
        while limiter.load.queued < 4 { await Task.yield() }
        let quiet = Task {
            try await limiter.acquire(tenant: "quiet")
            order.append("quiet")
        }
        while limiter.load.queued < 5 { await Task.yield() }
        limiter.release(tenant: "flood")   // the quiet tenant holds none: it goes first
        try await quiet.value
        #expect(order.values == ["quiet"])
        limiter.release(tenant: "quiet")
        for _ in 0..<4 { limiter.release(tenant: "flood") }
        try await flood.value
        #expect(order.values == ["quiet", "flood", "flood", "flood", "flood"])
    }

    @Test func oneTenantCannotFillTheWholeQueue() async throws {
        let limiter = ConcurrencyLimiter(limit: 1, maxQueue: 8, maxQueuePerTenant: 2)
        try await limiter.acquire(tenant: "flood")
        let order = Order()
        let waiting = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await limiter.acquire(tenant: "flood")
                        order.append("flood")
                    }
                }
                try await group.waitForAll()
            }
        }
        while limiter.load.queued < 2 { await Task.yield() }
        await #expect(throws: ConcurrencyLimiter.QueueFull.self) { try await limiter.acquire(tenant: "flood") }
        // Another tenant still finds a place, and is served first: it was never served.
        let other = Task {
            try await limiter.acquire(tenant: "other")
            order.append("other")
        }
        while limiter.load.queued < 3 { await Task.yield() }
        limiter.release(tenant: "flood")
        try await other.value
        limiter.release(tenant: "other")
        while order.values.count < 2 { await Task.yield() }
        limiter.release(tenant: "flood")
        try await waiting.value
        limiter.release(tenant: "flood")
        #expect(order.values == ["other", "flood", "flood"])
        #expect(limiter.load == (inFlight: 0, queued: 0))
    }
}

/// Names appended from several tasks, in order.
final class Order: Sendable {
    private let names = Mutex<[String]>([])
    func append(_ name: String) { names.withLock { $0.append(name) } }
    var values: [String] { names.withLock { $0 } }
}
