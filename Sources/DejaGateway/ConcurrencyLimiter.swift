import DequeModule
import Synchronization

/// Bounds how many requests a model server gets at once, with a bounded queue in front, shared fairly
/// between tenants.
///
/// `acquire` returns at once while fewer than `limit` permits are out; otherwise it waits in its
/// tenant's queue and throws `QueueFull` when the whole queue (`maxQueue`) or the tenant's share of it
/// (`maxQueuePerTenant`) is full — the caller answers 503 with `Retry-After` instead of piling up work.
/// A returned permit goes to the waiting tenant that holds the fewest permits and, among those, the one
/// served longest ago (round robin), each tenant's callers in arrival order: a tenant that floods the
/// model gets the permits nobody else wants, never the ones another tenant is waiting for. Every successful `acquire`
/// must be paired with one `release` naming the same tenant.
public final class ConcurrencyLimiter: Sendable {
    /// The queue was full; nothing was acquired.
    public struct QueueFull: Error {}

    private struct Waiter {
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var available: Int
        /// Permits held per tenant (absent: none).
        var held: [String: Int] = [:]
        /// Waiting callers per tenant, oldest first (absent: none).
        var waiting: [String: Deque<Waiter>] = [:]
        var queued = 0
        /// Permits granted so far, and the number of the last one each tenant holding or waiting got.
        var grants: UInt64 = 0
        var lastGrant: [String: UInt64] = [:]

        /// The tenant whose oldest waiter gets the next permit: fewest permits held, then served
        /// longest ago.
        func nextTenant() -> String? {
            var best: (tenant: String, held: Int, last: UInt64)?
            for tenant in waiting.keys {
                let rank = (held: held[tenant, default: 0], last: lastGrant[tenant, default: 0])
                if let current = best, (current.held, current.last) <= (rank.held, rank.last) { continue }
                best = (tenant, rank.held, rank.last)
            }
            return best?.tenant
        }

        mutating func grant(to tenant: String) {
            grants += 1
            held[tenant, default: 0] += 1
            lastGrant[tenant] = grants
        }
    }

    private let state: Mutex<State>
    public let limit: Int
    public let maxQueue: Int
    /// How many of the queue's places one tenant may take.
    public let maxQueuePerTenant: Int

    /// - Parameter maxQueuePerTenant: one tenant's share of the queue; by default a quarter of it
    ///   (at least one place), so a flood from one tenant leaves room for the others.
    public init(limit: Int, maxQueue: Int, maxQueuePerTenant: Int? = nil) {
        self.limit = max(1, limit)
        self.maxQueue = max(0, maxQueue)
        self.maxQueuePerTenant = min(max(0, maxQueue), max(1, maxQueuePerTenant ?? maxQueue / 4))
        self.state = Mutex(State(available: max(1, limit)))
    }

    /// Requests in flight plus those queued; for metrics.
    public var load: (inFlight: Int, queued: Int) {
        state.withLock { (limit - $0.available, $0.queued) }
    }

    /// Takes a permit for `tenant`, waiting in the queue if needed.
    public func acquire(tenant: String) async throws(QueueFull) {
        enum Entry { case granted, queue, full }
        let entry = state.withLock { state -> Entry in
            if state.available > 0, state.queued == 0 {
                state.available -= 1
                state.grant(to: tenant)
                return .granted
            }
            guard state.queued < maxQueue, state.waiting[tenant]?.count ?? 0 < maxQueuePerTenant else { return .full }
            return .queue
        }
        switch entry {
        case .granted: return
        case .full: throw QueueFull()
        case .queue:
            await withCheckedContinuation { continuation in
                let granted = state.withLock { state -> Bool in
                    // A permit may have come back between the check and now.
                    if state.available > 0, state.queued == 0 {
                        state.available -= 1
                        state.grant(to: tenant)
                        return true
                    }
                    state.waiting[tenant, default: []].append(Waiter(continuation: continuation))
                    state.queued += 1
                    return false
                }
                if granted { continuation.resume() }
            }
        }
    }

    /// Returns `tenant`'s permit, handing it straight to the next waiter by the fair-share rule.
    public func release(tenant: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let held = state.held[tenant] {
                state.held[tenant] = held > 1 ? held - 1 : nil
            }
            if state.held[tenant] == nil, state.waiting[tenant] == nil { state.lastGrant[tenant] = nil }
            guard let next = state.nextTenant(), let waiter = state.waiting[next]?.popFirst() else {
                state.available = min(limit, state.available + 1)
                return nil
            }
            if state.waiting[next]?.isEmpty == true { state.waiting[next] = nil }
            state.queued -= 1
            state.grant(to: next)
            return waiter.continuation
        }
        next?.resume()
    }
}
