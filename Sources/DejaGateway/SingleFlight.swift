import Synchronization

/// Runs one operation per key at a time; callers that arrive while it runs wait for its result.
///
/// The first caller for a key becomes the leader and runs the operation; everyone arriving before it
/// finishes is a follower and receives the same result, or the same error. Nothing is remembered after
/// completion: the next caller starts a new flight. Waiters never hang: every flight ends with exactly
/// one resume per waiter, whether the operation returns or throws.
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// What a caller became on arrival.
    private enum Role: Sendable {
        case leader
        case follower(Value)
    }

    private typealias Waiter = CheckedContinuation<Role, any Error>

    private let flights = Mutex<[Key: [Waiter]]>([:])

    public init() {}

    /// The number of flights under way; for tests and metrics.
    public var inFlight: Int { flights.withLock { $0.count } }

    /// The number of followers waiting on `key`'s flight.
    public func waiting(for key: Key) -> Int { flights.withLock { $0[key]?.count ?? 0 } }

    /// Runs `operation` for `key` unless a flight for it is under way, in which case waits for that one.
    ///
    /// - Returns: the value and whether this caller led the flight (ran the operation).
    /// - Throws: whatever the leader's operation threw.
    public func run(
        _ key: Key,
        operation: () async throws -> Value
    ) async throws -> (value: Value, leader: Bool) {
        // Deciding the role and joining happen under one lock acquisition, so no follower can
        // arrive between a flight's end and its own registration.
        let role = try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let leads = flights.withLock { flights -> Bool in
                if flights[key] != nil {
                    flights[key]!.append(waiter)
                    return false
                }
                flights[key] = []
                return true
            }
            if leads { waiter.resume(returning: .leader) }
        }
        switch role {
        case .follower(let value):
            return (value, false)
        case .leader:
            let result: Result<Value, any Error>
            do {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            let waiters = flights.withLock { $0.removeValue(forKey: key) ?? [] }
            for waiter in waiters {
                waiter.resume(with: result.map { Role.follower($0) })
            }
            return (try result.get(), true)
        }
    }
}
