import Synchronization

/// Stops sending requests to a model server that keeps failing, and probes it until it recovers.
///
/// Closed: requests flow; `failureThreshold` consecutive failures open the breaker, and so does an
/// error rate of at least `errorRate` over the last `window` calls (once `minimumCalls` of them are
/// known) — a server failing every other call never strings failures together, yet is sick. Open:
/// requests are refused at once for `openSeconds`. Half-open: one probe is let through; its success
/// closes the breaker (and forgets the window), its failure opens it again. Time comes from an
/// injected clock, so tests never sleep.
///
/// A failure may name its **source** (the tenant whose request failed). Failures that all come from
/// fewer than `minimumSources` sources never open the breaker: one tenant's inputs that make the model
/// fail (poison) are that tenant's problem, not a reason to stop serving everyone. A failure without a
/// source (the server could not be reached) always counts.
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
        /// Outcomes of the last calls, oldest first; at most `window` of them.
        var recent: [Call] = []
        var recentFailures = 0
        /// The sources of the current run of consecutive failures (`nil` stands for "unattributed").
        var streakSources: [String?] = []

        mutating func remember(_ call: Call, window: Int) {
            guard window > 0 else { return }
            recent.append(call)
            if call.failed { recentFailures += 1 }
            if recent.count > window, recent.removeFirst().failed { recentFailures -= 1 }
        }
    }

    /// One call's outcome in the error-rate window.
    private struct Call {
        var failed: Bool
        var source: String?
    }

    private let machine = Mutex(Machine())
    private let clock: WallClock
    /// Consecutive failures that open the breaker.
    public let failureThreshold: Int
    /// Seconds the breaker stays open before it lets a probe through.
    public let openSeconds: Double
    /// Fraction of failed calls in the window that opens the breaker; above 1 turns this off.
    public let errorRate: Double
    /// How many recent calls the error rate is taken over.
    public let window: Int
    /// Calls the window must hold before its error rate counts.
    public let minimumCalls: Int
    /// Distinct sources the failures must come from before they open the breaker (1: any failures).
    public let minimumSources: Int

    public init(
        failureThreshold: Int = 5, openSeconds: Double = 10, errorRate: Double = 0.5, window: Int = 20,
        minimumCalls: Int = 10, minimumSources: Int = 1, clock: WallClock = .system
    ) {
        self.minimumSources = max(1, minimumSources)
        self.failureThreshold = max(1, failureThreshold)
        self.openSeconds = max(0, openSeconds)
        self.errorRate = errorRate
        self.window = max(0, window)
        self.minimumCalls = max(1, min(minimumCalls, max(1, window)))
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

    /// Reports that an allowed call ended without telling anything about the server (it was cancelled):
    /// a half-open breaker lets another probe through instead of waiting for this one forever.
    public func abandon() {
        machine.withLock { machine in
            if machine.state == .halfOpen { machine.probeInFlight = false }
        }
    }

    /// Reports how an allowed request ended. Only server-side failures (unreachable, timeout, 5xx) count.
    ///
    /// - Parameter source: who sent the failed request (a tenant), or `nil` when the failure says
    ///   nothing about the request (the server could not be reached).
    public func record(success: Bool, source: String? = nil) {
        let now = clock.now()
        let window = self.window, errorRate = self.errorRate, minimumCalls = self.minimumCalls
        let minimumSources = self.minimumSources
        machine.withLock { machine in
            if success {
                switch machine.state {
                case .closed:
                    machine.consecutiveFailures = 0
                    machine.streakSources.removeAll()
                    machine.remember(Call(failed: false), window: window)
                case .halfOpen:
                    machine = Machine()  // a successful probe: closed, with a clean slate
                case .open:
                    break  // a call let through before the breaker opened: no evidence of recovery
                }
                return
            }
            machine.consecutiveFailures += 1
            switch machine.state {
            case .halfOpen:
                machine.state = .open
                machine.openedAt = now
                machine.probeInFlight = false
            case .closed:
                machine.remember(Call(failed: true, source: source), window: window)
                if !machine.streakSources.contains(source), machine.streakSources.count < minimumSources {
                    machine.streakSources.append(source)
                }
                let streakTripped = machine.consecutiveFailures >= failureThreshold
                    && Self.spread(machine.streakSources, minimum: minimumSources)
                let rateTripped = machine.recent.count >= minimumCalls
                    && Double(machine.recentFailures) >= errorRate * Double(machine.recent.count)
                    && Self.spread(machine.recent.lazy.filter(\.failed).map(\.source), minimum: minimumSources)
                if streakTripped || rateTripped {
                    machine.state = .open
                    machine.openedAt = now
                }
            case .open:
                break
            }
        }
    }

    /// Whether failures from these sources may open the breaker: an unattributed one, or enough
    /// distinct sources.
    private static func spread(_ sources: some Sequence<String?>, minimum: Int) -> Bool {
        var seen: Set<String> = []
        for source in sources {
            guard let source else { return true }
            seen.insert(source)
            if seen.count >= minimum { return true }
        }
        return false
    }
}
