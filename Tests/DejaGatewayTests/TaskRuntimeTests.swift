import DejaCore
import DejaGateway
import Testing

@Suite struct TaskRuntimeTests {
    func runtime(ttl: Double, jitter: Double, hitPrice: Double = 0) -> TaskRuntime {
        var freshness = TaskRuntime.Freshness()
        freshness.ttl = ttl
        freshness.ttlJitter = jitter
        return TaskRuntime(
            policy: TaskPolicy(task: "ocr", modelName: "m", modelVersion: "v"),
            route: "/ocr", upstreamURL: "http://127.0.0.1:1/ocr", freshness: freshness, meter: .perPage(10), hitPrice: hitPrice
        )
    }

    @Test func ttlJitterSpreadsExpiryWithinTheConfiguredFraction() {
        let task = runtime(ttl: 1000, jitter: 0.1)
        #expect(task.expiry(from: 0, unit: -1) == 900)
        #expect(task.expiry(from: 0, unit: 0) == 1000)
        #expect(task.expiry(from: 0, unit: 1) == 1100)
        #expect(task.expiry(from: 50, unit: 5) == 1150)  // the unit is clamped to [-1, 1]
        // Entries stored in the same second do not all expire in the same second.
        let expiries = Set((0..<100).map { _ in Int(task.expiry(from: 0, unit: .random(in: -1...1))) })
        #expect(expiries.count > 20)
        #expect(expiries.allSatisfy { (900...1100).contains($0) })
    }

    @Test func noJitterMeansExactTTL() {
        #expect(runtime(ttl: 60, jitter: 0).expiry(from: 10, unit: 1) == 70)
    }

    @Test func theTasksCachedAnswerPolicyCarriesItsPricing() {
        var task = runtime(ttl: 1, jitter: 0, hitPrice: 0.25)
        task.hitsPastBudget = false
        task.freshness.staleWhileRevalidate = 30
        #expect(task.cachedAnswers == CachedAnswerPolicy(hitPrice: 0.25, hitsPastBudget: false, staleWhileRevalidate: 30))
    }
}
