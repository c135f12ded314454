import Synchronization

/// Bounds how many requests a model server gets at once, with a bounded queue in front.
///
/// `acquire` returns at once while fewer than `limit` permits are out; otherwise it waits in a FIFO
/// queue of at most `maxQueue` callers, and throws `QueueFull` when that is full — the caller answers
/// 503 with `Retry-After` instead of piling up work. Every successful `acquire` must be paired with
/// one `release`.
public final class ConcurrencyLimiter: Sendable {
    /// The queue was full; nothing was acquired.
    public struct QueueFull: Error {}

    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var waitersHead = 0
        var queued: Int { waiters.count - waitersHead }
    }

    private let state: Mutex<State>
    public let limit: Int
    public let maxQueue: Int

    public init(limit: Int, maxQueue: Int) {
        self.limit = max(1, limit)
        self.maxQueue = max(0, maxQueue)
        self.state = Mutex(State(available: max(1, limit)))
    }

    /// Requests in flight plus those queued; for metrics.
    public var load: (inFlight: Int, queued: Int) {
        state.withLock { (limit - $0.available, $0.queued) }
    }

    /// Takes a permit, waiting in the queue if needed.
    public func acquire() async throws(QueueFull) {
        enum Entry { case granted, queue, full }
        let entry = state.withLock { state -> Entry in
            if state.available > 0 {
                state.available -= 1
                return .granted
            }
            return state.queued < maxQueue ? .queue : .full
        }
        switch entry {
        case .granted: return
        case .full: throw QueueFull()
        case .queue:
            await withCheckedContinuation { continuation in
                let granted = state.withLock { state -> Bool in
                    // A permit may have come back between the check and now.
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    state.waiters.append(continuation)
                    return false
                }
                if granted { continuation.resume() }
            }
        }
    }

    /// Returns a permit, handing it straight to the longest-waiting caller if there is one.
    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.queued > 0 else {
                state.available = min(limit, state.available + 1)
                return nil
            }
            let waiter = state.waiters[state.waitersHead]
            state.waitersHead += 1
            if state.waitersHead > 64, state.waitersHead * 2 > state.waiters.count {
                state.waiters.removeFirst(state.waitersHead)
                state.waitersHead = 0
            }
            return waiter
        }
        next?.resume()
    }
}
