import DejaCore
import Synchronization

/// Remembers, per content key, that the model server failed (5xx) on that input, so a repeat within
/// the task's `failureTTLSeconds` is answered 502 at once instead of reaching the model again.
///
/// This is distinct from the model being down: a server that cannot be reached or times out is the
/// breaker's business, and nothing is remembered per input for it. The memory is per instance and
/// bounded by `capacity` keys; past that, the oldest remembered failures go first.
public final class FailureMemory: Sendable {
    /// A remembered failure.
    public struct Failure: Sendable, Equatable {
        /// The status the model server answered.
        public var status: Int
        /// When the failure is forgotten.
        public var until: Double

        public init(status: Int, until: Double) {
            self.status = status
            self.until = until
        }
    }

    private let failures: Mutex<BoundedMap<CacheKey, Failure>>

    public init(capacity: Int = 10_000) {
        failures = Mutex(BoundedMap(capacity: capacity))
    }

    /// The failure remembered for `key` that is still in force at `now`, if any.
    public func failure(for key: CacheKey, at now: Double) -> Failure? {
        failures.withLock { failures in
            guard let failure = failures[key] else { return nil }
            guard failure.until > now else {
                failures.remove(key)
                return nil
            }
            return failure
        }
    }

    /// Remembers that the model answered `status` for `key`, until `until`.
    public func remember(_ key: CacheKey, status: Int, until: Double) {
        failures.withLock { $0.set(Failure(status: status, until: until), for: key) }
    }

    /// Forgets the failure for `key` (the model answered it after all).
    public func forget(_ key: CacheKey) {
        failures.withLock { _ = $0.remove(key) }
    }
}
