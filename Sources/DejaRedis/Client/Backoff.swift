/// Jittered exponential backoff: attempt `n` waits a random time in `[d/2, d]` with `d = min(max, base·2ⁿ)`.
public struct Backoff: Sendable, Hashable {
    /// Delay before the first retry (before jitter).
    public var base: Duration
    /// Largest delay.
    public var maximum: Duration

    public init(base: Duration = .milliseconds(50), maximum: Duration = .seconds(5)) {
        self.base = base
        self.maximum = maximum
    }

    /// The delay before retry number `attempt` (0 for the first), with `random` drawn from 0...1.
    public func delay(attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let factor = Double(1 << min(max(attempt, 0), 30))
        let full = min(base * factor, maximum)
        return full / 2 + full / 2 * min(max(random, 0), 1)
    }
}
