import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A client for a Redis Cluster: routes each command to the primary of its keys' slot and follows the
/// cluster through resharding and failover.
///
/// Reads the slot map with `CLUSTER SHARDS` (falling back to `CLUSTER SLOTS`) on first use; follows `MOVED`
/// (updating the map) and `ASK` (`ASKING` then retry) up to a redirect cap; retries `TRYAGAIN`,
/// `CLUSTERDOWN`, `LOADING` and lost nodes with jittered backoff. ``run()`` refreshes the topology
/// periodically and soon after errors, and closes every connection on graceful shutdown.
public final class RedisClusterClient: RedisCommandExecutor, Service, Sendable {
    /// The configuration the client was made with.
    public let configuration: RedisClusterConfiguration
    private let machine: Mutex<RedisClusterStateMachine>
    private let nodes: Mutex<[RedisAddress: any RedisClusterNode]>
    private let makeNode: @Sendable (RedisAddress) -> any RedisClusterNode
    private let clock: any RedisClusterClock
    private let logger: Logger

    /// Creates a client; nothing connects until the first command.
    public convenience init(
        configuration: RedisClusterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "deja.redis.cluster")
    ) {
        var nodeConnection = configuration.connection
        nodeConnection.database = 0
        let connection = nodeConnection
        let poolSize = configuration.poolSize
        self.init(configuration: configuration, clock: SystemRedisClusterClock(), logger: logger) { address in
            RedisClient(
                configuration: .init(address: address, connection: connection, poolSize: poolSize,
                                     reconnectBackoff: .init(base: .milliseconds(100), maximum: .seconds(2))),
                eventLoopGroup: eventLoopGroup, logger: logger
            )
        }
    }

    /// Creates a client with an injected clock and node factory (for tests).
    public init(
        configuration: RedisClusterConfiguration,
        clock: any RedisClusterClock,
        logger: Logger = Logger(label: "deja.redis.cluster"),
        makeNode: @escaping @Sendable (RedisAddress) -> any RedisClusterNode
    ) {
        self.configuration = configuration
        self.machine = Mutex(RedisClusterStateMachine(configuration: configuration.stateMachine))
        self.nodes = Mutex([:])
        self.makeNode = makeNode
        self.clock = clock
        self.logger = logger
    }

    /// The current slot map, if one has been read.
    public var topology: ClusterTopology? { machine.withLock { $0.topology } }

    // MARK: Commands

    /// Sends `command` to the primary of its keys' slot (any primary for keyless commands).
    ///
    /// Throws ``RedisError``: `crossSlot` when the keys span slots (nothing is sent), `tooManyRedirects`,
    /// `clusterUnavailable` when retries run out, or the node's error.
    public func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        let slot = try Self.slot(of: command.keysAffected)
        var attempt = RedisClusterStateMachine.Attempt()
        while true {
            let route = machine.withLock { $0.route(slot: slot, attempt: &attempt) }
            switch route {
            case .fail(let code):
                throw RedisError(code: code, message: "no cluster node serves the slot")
            case .refreshTopology:
                machine.withLock { $0.refreshAttempted(&attempt) }
                do throws(RedisError) {
                    try await refreshTopology()
                } catch {
                    if attempt.retries > configuration.stateMachine.maxRetries { throw error }
                    try await sleep(configuration.stateMachine.retryBackoff.delay(attempt: attempt.retries - 1))
                }
            case .send(let address, let asking):
                do throws(RedisError) {
                    return try await node(address).execute(command, asking: asking)
                } catch {
                    let action = machine.withLock {
                        $0.handle(error, slot: slot, attempt: &attempt, random: Double.random(in: 0...1))
                    }
                    switch action {
                    case .retryNow:
                        continue
                    case .fail(let failure):
                        throw failure
                    case .retryAfter(let delay, let refresh):
                        logger.debug("retrying a cluster command", metadata: ["redis.error": "\(error)"])
                        try await sleep(delay)
                        if refresh, machine.withLock({ $0.errorRefreshAllowed(now: clock.now()) }) {
                            try? await refreshTopology()
                        }
                    }
                }
            }
        }
    }

    /// Sends `command` without suspending to the primary the slot map names for its keys, on an open
    /// connection to it (one on `eventLoop` when there is one); `nil` when that cannot be done at once
    /// (no slot map yet, keys in several slots, a redirect pending, no open connection to the node): use
    /// ``execute(_:)``. A redirect or another error fails the future; the caller asks again the usual way,
    /// which follows redirects and refreshes the slot map.
    public func executeNow<Command: RedisCommand>(_ command: Command, on eventLoop: (any EventLoop)?) -> EventLoopFuture<Command.Response>? {
        guard let slot = try? Self.slot(of: command.keysAffected) else { return nil }
        var attempt = RedisClusterStateMachine.Attempt()
        guard case .send(let address, asking: false) = machine.withLock({ $0.route(slot: slot, attempt: &attempt) }) else { return nil }
        return node(address).executeNow(command, on: eventLoop)
    }

    /// Runs one command per slot over `keys` (e.g. `MGET`, `DEL`), concurrently; never sends a cross-slot command.
    ///
    /// Returns each group's keys (in their original relative order) with its reply.
    public func executeGroupedBySlot<Command: RedisCommand>(
        keys: [RedisKey],
        _ makeCommand: @escaping @Sendable ([RedisKey]) -> Command
    ) async throws(RedisError) -> [(keys: [RedisKey], response: Command.Response)] {
        var groups: [HashSlot: [RedisKey]] = [:]
        var order: [HashSlot] = []
        for key in keys {
            let slot = key.hashSlot
            if groups[slot] == nil { order.append(slot) }
            groups[slot, default: []].append(key)
        }
        let batches = order.map { groups[$0]! }
        do {
            return try await withThrowingTaskGroup(of: (Int, Command.Response).self) { group in
                for (index, batch) in batches.enumerated() {
                    group.addTask { (index, try await self.execute(makeCommand(batch))) }
                }
                var responses = [Command.Response?](repeating: nil, count: batches.count)
                for try await (index, response) in group { responses[index] = response }
                return batches.enumerated().map { ($0.element, responses[$0.offset]!) }
            }
        } catch {
            throw RedisError.wrap(error, code: .unexpectedResponse, message: "a grouped command failed")
        }
    }

    /// Subscribes on one primary. Classic pub/sub messages reach every node of a cluster, so any node will do.
    public func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        var attempt = RedisClusterStateMachine.Attempt()
        while true {
            switch machine.withLock({ $0.route(slot: nil, attempt: &attempt) }) {
            case .send(let address, _):
                return try await node(address).subscribe(to: channels)
            case .refreshTopology:
                machine.withLock { $0.refreshAttempted(&attempt) }
                try await refreshTopology()
            case .fail(let code):
                throw RedisError(code: code, message: "no cluster node to subscribe on")
            }
        }
    }

    /// One client per primary of the current topology (read first if needed).
    public func primaries() async throws(RedisError) -> [any RedisCommandExecutor] {
        if topology == nil { try await refreshTopology() }
        return (topology?.primaries ?? []).map { node($0) }
    }

    // MARK: Topology

    /// Reads the slot map from the first node that answers (known nodes first, then the seeds).
    public func refreshTopology() async throws(RedisError) {
        let candidates = machine.withLock { $0.refreshCandidates(seeds: configuration.seeds) }
        var lastError = RedisError(code: .clusterUnavailable, message: "no cluster node answered CLUSTER SHARDS")
        for address in candidates {
            let node = node(address)
            do {
                let topology: ClusterTopology
                do throws(RedisError) {
                    topology = try ClusterTopology(shardsReply: try await node.execute(CLUSTER_SHARDS()))
                } catch where error.code == .serverError {
                    topology = try ClusterTopology(slotsReply: try await node.execute(CLUSTER_SLOTS()))
                }
                guard !topology.shards.isEmpty else { continue }
                let now = clock.now()
                machine.withLock { $0.topologyRefreshed(topology, now: now) }
                logger.debug("read the cluster topology", metadata: ["redis.shards": "\(topology.shards.count)"])
                return
            } catch {
                lastError = RedisError(code: .clusterUnavailable, message: "no cluster node answered CLUSTER SHARDS", underlying: error)
            }
        }
        throw lastError
    }

    // MARK: Lifecycle

    /// Refreshes the topology periodically and after errors until graceful shutdown, then closes every connection.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if self.machine.withLock({ $0.refreshDue(now: self.clock.now()) }) {
                    do { try await self.refreshTopology() } catch {
                        self.logger.warning("could not refresh the cluster topology", metadata: ["redis.error": "\(error)"])
                    }
                }
                do { try await self.clock.sleep(for: .milliseconds(250)) } catch { break }
            }
        }
        await shutdown()
    }

    /// Closes the connections to every node.
    public func shutdown() async {
        let all = nodes.withLock { nodes in
            defer { nodes = [:] }
            return Array(nodes.values)
        }
        for node in all { await node.shutdown() }
    }

    // MARK: Helpers

    private func node(_ address: RedisAddress) -> any RedisClusterNode {
        nodes.withLock { nodes in
            if let node = nodes[address] { return node }
            let node = makeNode(address)
            nodes[address] = node
            return node
        }
    }

    private func sleep(_ duration: Duration) async throws(RedisError) {
        do { try await clock.sleep(for: duration) } catch {
            throw RedisError(code: .cancelled, message: "the task was cancelled")
        }
    }

    /// The one slot all `keys` hash to; `nil` for no keys. Throws `crossSlot` when they differ.
    static func slot(of keys: [RedisKey]) throws(RedisError) -> HashSlot? {
        guard let first = keys.first?.hashSlot else { return nil }
        for key in keys.dropFirst() where key.hashSlot != first {
            throw RedisError(code: .crossSlot, message: "the keys of one command hash to different slots")
        }
        return first
    }
}
