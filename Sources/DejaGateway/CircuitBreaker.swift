import DejaCore
import Synchronization

/// Stops sending requests to a model server that keeps failing, and probes it until it recovers.
///
/// Closed: requests flow; `failureThreshold` consecutive failures open the breaker. Open: requests
/// are refused at once for `openSeconds`. Half-open: one probe is let through; its success closes
/// the breaker, its failure opens it again. Time comes from an injected clock, so tests never sleep.
public final class CircuitBreaker: Sendable {
    /// The breaker's state, as reported to metrics and `/readyz`.
    public enum State: String, Sendable, Equatable {
        case closed
        case open
        case halfOpen = "half_open"
    }

    /// What the breaker decided for one request.
    public enum Decision: Sendable, Equatable {
        /// Go ahead; report the outcome with ``record(success:)``.
        case allow
        /// Refused; the breaker expects to let a probe through after this many seconds.
        case reject(retryAfter: Double)
    }

    private struct Machine {
        var state: State = .closed
        var consecutiveFailures = 0
        var openedAt = 0.0
        var probeInFlight = false
    }

    private let machine = Mutex(Machine())
    private let clock: WallClock
    /// Consecutive failures that open the breaker.
    public let failureThreshold: Int
    /// Seconds the breaker stays open before it lets a probe through.
    public let openSeconds: Double

    public init(failureThreshold: Int = 5, openSeconds: Double = 10, clock: WallClock = .system) {
        self.failureThreshold = max(1, failureThreshold)
        self.openSeconds = max(0, openSeconds)
        self.clock = clock
    }

    /// The current state (an open breaker whose time is up reads as half-open).
    public var state: State {
        let now = clock.now()
        return machine.withLock { machine in
            if machine.state == .open, now - machine.openedAt >= openSeconds { return .halfOpen }
            return machine.state
        }
    }

    /// Asks whether a request may go to the model server now.
    public func decide() -> Decision {
        let now = clock.now()
        return machine.withLock { machine in
            switch machine.state {
            case .closed:
                return .allow
            case .open:
                let waited = now - machine.openedAt
                guard waited >= openSeconds else { return .reject(retryAfter: openSeconds - waited) }
                machine.state = .halfOpen
                machine.probeInFlight = true
                return .allow
            case .halfOpen:
                if machine.probeInFlight { return .reject(retryAfter: 1) }
                machine.probeInFlight = true
                return .allow
            }
        }
    }

    /// Reports how an allowed request ended. Only server-side failures (unreachable, timeout, 5xx) count.
    public func record(success: Bool) {
        let now = clock.now()
        machine.withLock { machine in
            if success {
                machine = Machine()
                return
            }
            machine.consecutiveFailures += 1
            switch machine.state {
            case .halfOpen:
                machine.state = .open
                machine.openedAt = now
                machine.probeInFlight = false
            case .closed where machine.consecutiveFailures >= failureThreshold:
                machine.state = .open
                machine.openedAt = now
            case .closed, .open:
                break
            }
        }
    }
}
