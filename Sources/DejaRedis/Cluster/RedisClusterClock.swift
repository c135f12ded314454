/// Where the cluster client reads monotonic time and sleeps; inject a manual one so tests never sleep.
public protocol RedisClusterClock: Sendable {
    /// Monotonic time since some fixed start.
    func now() -> Duration
    /// Suspends for `duration` (throws on cancellation).
    func sleep(for duration: Duration) async throws
}

/// The real clock: `ContinuousClock`.
public struct SystemRedisClusterClock: RedisClusterClock {
    private let start = ContinuousClock.now
    public init() {}
    public func now() -> Duration { ContinuousClock.now - start }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
