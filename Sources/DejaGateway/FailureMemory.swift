import DejaCore
import DequeModule
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

    private struct State {
        var failures: [CacheKey: Failure] = [:]
        /// Keys in the order they were remembered, for eviction; may hold keys already forgotten.
        var order: Deque<CacheKey> = []
    }

    private let state = Mutex(State())
    public let capacity: Int

    public init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    /// The failure remembered for `key` that is still in force at `now`, if any.
    public func failure(for key: CacheKey, at now: Double) -> Failure? {
        state.withLock { state in
            guard let failure = state.failures[key] else { return nil }
            guard failure.until > now else {
                state.failures[key] = nil
                return nil
            }
            return failure
        }
    }

    /// Remembers that the model answered `status` for `key`, until `until`.
    public func remember(_ key: CacheKey, status: Int, until: Double) {
        state.withLock { state in
            if state.failures.updateValue(Failure(status: status, until: until), forKey: key) == nil {
                state.order.append(key)
            }
            while state.failures.count > capacity, let oldest = state.order.popFirst() {
                state.failures[oldest] = nil
            }
            // Keys forgotten by expiry linger in `order`; drop them once they outnumber the live ones.
            if state.order.count > 2 * capacity {
                state.order = Deque(state.order.filter { state.failures[$0] != nil })
            }
        }
    }

    /// Forgets the failure for `key` (the model answered it after all).
    public func forget(_ key: CacheKey) {
        _ = state.withLock { $0.failures.removeValue(forKey: key) }
    }
}
