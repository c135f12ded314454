import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A client for one Redis server: a small pool of pipelined connections that reconnect by themselves.
///
/// Commands from any task are spread round-robin over ``RedisClientConfiguration/poolSize`` connections,
/// each opened on first use, slot `i` on the group's loop `i mod n` (so ``executeNow(_:on:)`` can use one
/// of the caller's loop). A closed connection is replaced on the next command; after failed attempts
/// the client waits with jittered exponential backoff and meanwhile fails commands fast with `unavailable`,
/// so callers can fail open instead of queueing behind a dead server.
///
/// Run it in a `ServiceGroup`: ``run()`` returns on graceful shutdown after closing every connection.
public final class RedisClient: RedisCommandExecutor, Service, Sendable {
    /// The configuration the client was made with.
    public let configuration: RedisClientConfiguration
    let eventLoopGroup: any EventLoopGroup
    /// The group's loops: pool slot `i` connects on loop `i % loops.count`.
    private let loops: [any EventLoop]
    let logger: Logger
    private let state: Mutex<PoolState>

    /// Creates a client; connects lazily on the first command.
    public init(
        configuration: RedisClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "deja.redis")
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.loops = Array(eventLoopGroup.makeIterator())
        self.logger = logger
        // The last slot is the dedicated pub/sub connection.
        self.state = Mutex(PoolState(slots: Array(repeating: .idle, count: configuration.poolSize + 1)))
    }

    /// Creates a client from a `redis://` or `rediss://` URL (see ``RedisClientConfiguration/init(url:)``).
    public convenience init(
        url: String,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "deja.redis")
    ) throws(RedisError) {
        self.init(configuration: try RedisClientConfiguration(url: url), eventLoopGroup: eventLoopGroup, logger: logger)
    }

    // MARK: Commands

    /// Sends one command and returns its decoded reply.
    ///
    /// A read-only command that meets a connection closed under it is retried once on a fresh connection.
    public func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        let connection = try await connection(slot: nil)
        do throws(RedisError) {
            return try await connection.execute(command)
        } catch where error.code == .connectionClosed && command.isReadOnly {
            return try await self.connection(slot: nil).execute(command)
        }
    }

    /// Sends one command without suspending on an open connection of the pool, if there is one; `nil`
    /// otherwise. With `eventLoop`, a connection on that loop is preferred (the pool opens its connections
    /// across the group's loops), so a caller on an event loop writes the command and gets the reply
    /// there, with no hop between threads; else the next connection round-robin.
    public func executeNow<Command: RedisCommand>(_ command: Command, on eventLoop: (any EventLoop)?) -> EventLoopFuture<Command.Response>? {
        let connection = state.withLock { state -> RedisConnection? in
            guard !state.isShutdown else { return nil }
            let start = state.next
            state.next &+= 1
            var fallback: RedisConnection?
            for offset in 0..<configuration.poolSize {
                let index = (start &+ offset) % configuration.poolSize
                guard case .connected(let connection) = state.slots[index], connection.isActive else { continue }
                guard let eventLoop, connection.channel.eventLoop !== eventLoop else { return connection }
                if fallback == nil { fallback = connection }
            }
            return fallback
        }
        return connection?.executeNow(command)
    }

    /// Sends many commands in one write on one connection; one result per command, in order.
    public func pipeline(_ commands: [any RedisCommand]) async -> [Result<RESPToken, RedisError>] {
        do {
            return try await connection(slot: nil).pipeline(commands)
        } catch {
            return Array(repeating: .failure(error), count: commands.count)
        }
    }

    /// Subscribes to `channels` on the client's dedicated pub/sub connection.
    ///
    /// The subscription ends with an error if that connection closes; subscribe again to resume.
    public func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        try await connection(slot: configuration.poolSize).subscribe(to: channels)
    }

    /// This server, as the only primary.
    public func primaries() async throws(RedisError) -> [any RedisCommandExecutor] { [self] }

    // MARK: Lifecycle

    /// Waits for graceful shutdown (or cancellation), then closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes every connection; later commands fail with `unavailable`.
    public func shutdown() async {
        let open = state.withLock { state -> [RedisConnection] in
            state.isShutdown = true
            let open = state.slots.compactMap { slot -> RedisConnection? in
                if case .connected(let connection) = slot { return connection } else { return nil }
            }
            state.slots = state.slots.map { _ in .idle }
            return open
        }
        for connection in open { await connection.close() }
    }

    // MARK: Pool

    /// A live connection from the pool.
    func anyConnection() async throws(RedisError) -> RedisConnection { try await connection(slot: nil) }

    private enum Slot {
        case idle
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
    }

    private struct PoolState {
        var slots: [Slot]
        var next = 0
        var isShutdown = false
        /// Connection attempts failed in a row, over the whole pool: the server, not one slot, is down.
        var failures = 0
        /// No new connection attempt before this.
        var retryAt: NIODeadline?
    }

    private enum Acquire {
        case use(RedisConnection)
        case wait(EventLoopFuture<RedisConnection>)
        case connect(index: Int, failures: Int, EventLoopPromise<RedisConnection>)
        case fail(RedisError)
    }

    /// A live connection for `slot` (round-robin over the pool when `nil`).
    private func connection(slot: Int?) async throws(RedisError) -> RedisConnection {
        let now = NIODeadline.now()
        let eventLoop = eventLoopGroup.any()
        let action = state.withLock { state -> Acquire in
            guard !state.isShutdown else { return .fail(RedisError(code: .unavailable, message: "the client is shut down")) }
            let index: Int
            if let slot {
                index = slot
            } else {
                index = state.next % configuration.poolSize
                state.next &+= 1
            }
            switch state.slots[index] {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let future):
                return .wait(future)
            case .connected, .idle:
                if let retryAt = state.retryAt, retryAt > now {
                    return .fail(RedisError(code: .unavailable, message: "backing off after failed connection attempts"))
                }
            }
            let promise = eventLoop.makePromise(of: RedisConnection.self)
            state.slots[index] = .connecting(promise.futureResult)
            return .connect(index: index, failures: state.failures, promise)
        }
        switch action {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let future):
            do { return try await future.get() } catch {
                throw RedisError.wrap(error, code: .connectionFailed, message: "connecting failed")
            }
        case .connect(let index, let failures, let promise):
            do throws(RedisError) {
                let connection = try await RedisConnection.connect(
                    to: configuration.address, configuration: configuration.connection,
                    eventLoopGroup: loops.isEmpty ? eventLoopGroup : loops[index % loops.count], logger: logger
                )
                let keep = state.withLock { state -> Bool in
                    guard !state.isShutdown else { return false }
                    state.slots[index] = .connected(connection)
                    state.failures = 0
                    state.retryAt = nil
                    return true
                }
                guard keep else {
                    await connection.close()
                    let error = RedisError(code: .unavailable, message: "the client is shut down")
                    promise.fail(error)
                    throw error
                }
                connection.closeFuture.whenComplete { [weak self] _ in self?.connectionClosed(index: index, connection) }
                promise.succeed(connection)
                return connection
            } catch {
                let delay = configuration.reconnectBackoff.delay(attempt: failures)
                let retryAt = NIODeadline.now() + .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
                state.withLock { state in
                    guard !state.isShutdown else { return }
                    state.slots[index] = .idle
                    state.failures = max(state.failures, failures + 1)
                    state.retryAt = max(state.retryAt ?? retryAt, retryAt)
                }
                logger.warning(
                    "could not connect to Redis",
                    metadata: ["redis.address": "\(configuration.address)", "redis.error": "\(error)", "redis.failures": "\(failures + 1)"]
                )
                promise.fail(error)
                throw error
            }
        }
    }

    private func connectionClosed(index: Int, _ connection: RedisConnection) {
        state.withLock { state in
            if case .connected(let current) = state.slots[index], current === connection {
                state.slots[index] = .idle
            }
        }
    }
}
