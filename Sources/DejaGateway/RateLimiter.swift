import DejaCore
import Synchronization

/// Per-key request-rate limits: a token bucket per API key.
///
/// Each key may make `burst` requests at once and `perSecond` on average. A refused request learns
/// how many seconds until its next token (`Retry-After`). Memory is bounded: idle full buckets are
/// dropped when the table grows past `capacity`.
public final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock: WallClock
    public let perSecond: Double
    public let burst: Double
    private let capacity: Int

    public init(perSecond: Double, burst: Double, clock: WallClock = .system, capacity: Int = 100_000) {
        self.perSecond = max(0.001, perSecond)
        self.burst = max(1, burst)
        self.clock = clock
        self.capacity = capacity
    }

    /// Takes one token for `key`; returns `nil` when allowed, else the seconds until a token is available.
    public func take(_ key: String) -> Double? {
        let now = clock.now()
        return buckets.withLock { buckets in
            if buckets.count >= capacity, buckets[key] == nil {
                buckets = buckets.filter { now - $0.value.updated < burst / perSecond }
            }
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * perSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / perSecond
        }
    }
}
