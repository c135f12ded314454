/// The cluster client's protocol logic: routing by slot, reacting to `MOVED`/`ASK`/`TRYAGAIN`/`CLUSTERDOWN`,
/// deciding when to refresh the topology.
///
/// Synchronous and free of I/O: callers hold it behind a lock, ask it what to do, and carry the returned
/// action out after releasing the lock. Time is passed in, so tests drive it with a manual clock.
public struct RedisClusterStateMachine: Sendable {
    /// Limits and timings.
    public struct Configuration: Sendable, Hashable {
        /// Most `MOVED`/`ASK` redirects one command follows.
        public var maxRedirects: Int
        /// Most retries of one command after `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN` or a lost node.
        public var maxRetries: Int
        /// Wait between those retries.
        public var retryBackoff: Backoff
        /// Refresh the topology at least this often.
        public var refreshInterval: Duration
        /// Never refresh more often than this after errors.
        public var minimumRefreshInterval: Duration

        public init(
            maxRedirects: Int = 5,
            maxRetries: Int = 6,
            retryBackoff: Backoff = .init(base: .milliseconds(25), maximum: .seconds(1)),
            refreshInterval: Duration = .seconds(30),
            minimumRefreshInterval: Duration = .milliseconds(500)
        ) {
            self.maxRedirects = maxRedirects
            self.maxRetries = maxRetries
            self.retryBackoff = retryBackoff
            self.refreshInterval = refreshInterval
            self.minimumRefreshInterval = minimumRefreshInterval
        }
    }

    /// What one command has been through so far.
    public struct Attempt: Sendable, Hashable {
        public var redirects = 0
        public var retries = 0
        /// Set by `ASK`: send the next try to this node, preceded by `ASKING`.
        public var askTarget: RedisAddress?
        public init() {}
    }

    /// Where to send a command.
    public enum RouteAction: Sendable, Hashable {
        /// Send to this node (after `ASKING` when `asking`).
        case send(RedisAddress, asking: Bool)
        /// No node is known for the slot: refresh the topology first.
        case refreshTopology
        /// Give up.
        case fail(RedisError.Code)
    }

    /// What to do after a command failed.
    public enum ErrorAction: Sendable {
        /// Route again at once (after `MOVED` or `ASK`).
        case retryNow
        /// Wait, optionally refresh the topology, then route again.
        case retryAfter(Duration, refreshTopology: Bool)
        /// Give up with this error.
        case fail(RedisError)
    }

    private enum State: Sendable {
        case noTopology
        case ready(ClusterTopology)
    }

    public let configuration: Configuration
    private var state: State = .noTopology
    private var lastRefresh: Duration?
    private var refreshWanted = false

    public init(configuration: Configuration = .init()) { self.configuration = configuration }

    /// The current topology, if any.
    public var topology: ClusterTopology? {
        if case .ready(let topology) = state { return topology } else { return nil }
    }

    /// Where to send a command for `slot` (any primary when `nil`).
    public mutating func route(slot: HashSlot?, attempt: inout Attempt) -> RouteAction {
        if let target = attempt.askTarget {
            attempt.askTarget = nil
            return .send(target, asking: true)
        }
        guard case .ready(let topology) = state else {
            return attempt.retries > configuration.maxRetries ? .fail(.clusterUnavailable) : .refreshTopology
        }
        let address = slot.map { topology.primary(for: $0) } ?? topology.primaries.first
        guard let address else {
            refreshWanted = true
            return attempt.retries > configuration.maxRetries ? .fail(.clusterUnavailable) : .refreshTopology
        }
        return .send(address, asking: false)
    }

    /// Counts a topology refresh made because routing found no node (see ``RouteAction/refreshTopology``).
    public mutating func refreshAttempted(_ attempt: inout Attempt) { attempt.retries += 1 }

    /// Decides what to do after `error` answered a command for `slot`; `random` in 0...1 jitters the backoff.
    public mutating func handle(_ error: RedisError, slot: HashSlot?, attempt: inout Attempt, random: Double) -> ErrorAction {
        if let serverMessage = error.serverMessage, error.code == .serverError {
            let words = serverMessage.split(separator: " ")
            switch words.first {
            case "MOVED", "ASK":
                guard words.count >= 3, let movedSlot = Int(words[1]).flatMap(HashSlot.init(rawValue:)),
                      let address = RedisAddress(words[2])
                else { return .fail(.unexpected("malformed redirect")) }
                attempt.redirects += 1
                guard attempt.redirects <= configuration.maxRedirects else {
                    return .fail(RedisError(code: .tooManyRedirects, message: "gave up after \(configuration.maxRedirects) redirects", underlying: error))
                }
                if words.first == "ASK" {
                    attempt.askTarget = address
                } else {
                    if case .ready(var topology) = state {
                        topology.assign(movedSlot, to: address)
                        state = .ready(topology)
                    } else {
                        state = .ready(ClusterTopology(shards: [.init(slots: [Int(movedSlot.rawValue)...Int(movedSlot.rawValue)], primary: address)]))
                    }
                    refreshWanted = true
                }
                return .retryNow
            case "TRYAGAIN", "LOADING":
                return retry(error, attempt: &attempt, random: random, refresh: false)
            case "CLUSTERDOWN", "MASTERDOWN":
                refreshWanted = true
                return retry(error, attempt: &attempt, random: random, refresh: true)
            default:
                return .fail(error)
            }
        }
        switch error.code {
        case .connectionFailed, .connectionClosed, .unavailable, .timeout:
            // The node may have failed over; look again before retrying.
            refreshWanted = true
            return retry(error, attempt: &attempt, random: random, refresh: true)
        default:
            return .fail(error)
        }
    }

    private mutating func retry(_ error: RedisError, attempt: inout Attempt, random: Double, refresh: Bool) -> ErrorAction {
        attempt.retries += 1
        guard attempt.retries <= configuration.maxRetries else {
            return .fail(RedisError(code: .clusterUnavailable, message: "gave up after \(configuration.maxRetries) retries", underlying: error))
        }
        return .retryAfter(configuration.retryBackoff.delay(attempt: attempt.retries - 1, random: random), refreshTopology: refresh)
    }

    /// Whether a refresh is due at `now`: periodically, or when an error asked for one (throttled).
    public func refreshDue(now: Duration) -> Bool {
        guard let lastRefresh else { return true }
        let elapsed = now - lastRefresh
        if elapsed >= configuration.refreshInterval { return true }
        return refreshWanted && elapsed >= configuration.minimumRefreshInterval
    }

    /// Whether a refresh asked for by an error may run now (not more often than the minimum interval).
    public func errorRefreshAllowed(now: Duration) -> Bool {
        guard let lastRefresh, case .ready = state else { return true }
        return now - lastRefresh >= configuration.minimumRefreshInterval
    }

    /// Installs a freshly read topology.
    public mutating func topologyRefreshed(_ topology: ClusterTopology, now: Duration) {
        state = .ready(topology)
        lastRefresh = now
        refreshWanted = false
    }

    /// Addresses to ask for the topology: the known primaries first, then the seeds.
    public func refreshCandidates(seeds: [RedisAddress]) -> [RedisAddress] {
        var candidates: [RedisAddress] = []
        if case .ready(let topology) = state {
            for shard in topology.shards {
                candidates.append(shard.primary)
                candidates += shard.replicas
            }
        }
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        return candidates
    }
}
