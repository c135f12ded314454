import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One connection to a Redis server; commands from many tasks are pipelined on it and answered in order.
///
/// Safe to use from any task. A connection does not reconnect: when it closes, pending and later commands
/// fail with `connectionClosed`; ``RedisClient`` replaces it.
public final class RedisConnection: Sendable {
    /// The underlying channel.
    public let channel: any Channel
    let configuration: RedisConnectionConfiguration
    private let nextSubscriptionID = Atomic<Int>(0)
    /// Whether a flush is scheduled for the end of the event loop's current iteration.
    private let flushScheduled: NIOLoopBoundBox<Bool>

    init(channel: any Channel, configuration: RedisConnectionConfiguration) {
        self.channel = channel
        self.configuration = configuration
        self.flushScheduled = .makeBoxSendingValue(false, as: Bool.self, eventLoop: channel.eventLoop)
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Connects to `address`, then runs the handshake: `HELLO` (with `AUTH`) or `AUTH`, then `SELECT`.
    ///
    /// Throws ``RedisError`` with code `connectionFailed` when the connection or the handshake fails.
    public static func connect(
        to address: RedisAddress,
        configuration: RedisConnectionConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "deja.redis")
    ) async throws(RedisError) -> RedisConnection {
        let channel: any Channel
        do {
            let sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
            let serverName = configuration.tlsServerName ?? address.host
            let limits = configuration.limits
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            let isIP = serverName.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
                            let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: isIP ? nil : serverName)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(limits: limits, logger: logger))
                    }
                }
                .connect(host: address.host, port: address.port)
                .get()
        } catch {
            throw RedisError.wrap(error, code: .connectionFailed, message: "could not connect to \(address)")
        }
        let connection = RedisConnection(channel: channel, configuration: configuration)
        do {
            try await connection.handshake()
        } catch {
            try? await channel.close()
            throw RedisError(code: .connectionFailed, message: "the connection handshake failed", underlying: error)
        }
        return connection
    }

    /// Sends the commands that set the connection up.
    func handshake() async throws(RedisError) {
        let auth = configuration.authentication
        if configuration.protocolVersion >= 3 {
            _ = try await execute(HELLO(
                protocolVersion: 3, username: auth?.username, password: auth?.password,
                clientName: configuration.clientName
            ))
        } else if let auth {
            _ = try await execute(AUTH(username: auth.username, password: auth.password))
        }
        if configuration.database != 0 { _ = try await execute(SELECT(configuration.database)) }
    }

    /// Sends one command and returns its decoded reply.
    ///
    /// Throws ``RedisError``: `serverError` for an error reply, `timeout`, `connectionClosed`, or a decoding error.
    public func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        var encoder = RESPCommandEncoder()
        command.encode(into: &encoder)
        let token = try await send(encoder.buffer, count: 1)[0].get()
        return try command.decode(token)
    }

    /// Sends one command without suspending; the reply (decoded) completes the future on the
    /// connection's event loop. For callers on an event loop that must not enter Swift concurrency.
    public func executeNow<Command: RedisCommand>(_ command: Command) -> EventLoopFuture<Command.Response> {
        var encoder = RESPCommandEncoder()
        command.encode(into: &encoder)
        let promise = channel.eventLoop.makePromise(of: RESPToken.self)
        let request = RedisRequest(bytes: encoder.buffer, operation: .commands([promise]), timeout: configuration.commandTimeout)
        let written: EventLoopFuture<Void>
        if channel.eventLoop.inEventLoop {
            // Flushed once the loop has handled the I/O it is on: the commands that every connection
            // served in this iteration asked for go out in one write (and come back in one read).
            written = channel.write(request)
            flushAtEndOfIteration()
        } else {
            written = channel.writeAndFlush(request)
        }
        written.whenFailure { error in
            promise.fail(RedisError.wrap(error, code: .connectionClosed, message: "the connection is closed"))
        }
        return promise.futureResult.flatMapThrowing { token in
            if let text = token.errorText { throw RedisError.server(text) }
            return try command.decode(token)
        }
    }

    /// Schedules one flush for after the I/O events of the loop's current iteration. Call on the loop.
    private func flushAtEndOfIteration() {
        guard !flushScheduled.value else { return }
        flushScheduled.value = true
        channel.eventLoop.execute { [self] in
            flushScheduled.value = false
            channel.flush()
        }
    }

    /// Sends many commands in one write; returns one result per command, in order.
    ///
    /// A failing command does not fail the others. Replies are tokens; error replies become `.failure`.
    public func pipeline(_ commands: [any RedisCommand]) async -> [Result<RESPToken, RedisError>] {
        var encoder = RESPCommandEncoder()
        for command in commands { command.encode(into: &encoder) }
        do {
            return try await send(encoder.buffer, count: commands.count).map { result in
                result.flatMap { token in
                    if let text = token.errorText { return .failure(.server(text)) }
                    return .success(token)
                }
            }
        } catch {
            return Array(repeating: .failure(error), count: commands.count)
        }
    }

    /// Writes `bytes` holding `count` commands; waits for every reply.
    func send(_ bytes: ByteBuffer, count: Int) async throws(RedisError) -> [Result<RESPToken, RedisError>] {
        let promises = (0..<count).map { _ in channel.eventLoop.makePromise(of: RESPToken.self) }
        let request = RedisRequest(bytes: bytes, operation: .commands(promises), timeout: configuration.commandTimeout)
        channel.writeAndFlush(request).whenFailure { error in
            let failure = RedisError.wrap(error, code: .connectionClosed, message: "the connection is closed")
            for promise in promises { promise.fail(failure) }
        }
        var results: [Result<RESPToken, RedisError>] = []
        results.reserveCapacity(count)
        for promise in promises {
            do {
                results.append(.success(try await promise.futureResult.get()))
            } catch {
                results.append(.failure(.wrap(error, code: .connectionClosed, message: "the command failed")))
            }
        }
        return results
    }

    /// Subscribes to `channels`; returns once the server confirmed every one.
    ///
    /// Needs RESP3 (`protocolVersion` 3). Messages arrive on the returned sequence until it is dropped or the
    /// connection closes. Ordinary commands may still be sent on the same connection.
    public func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        guard configuration.protocolVersion >= 3 else {
            throw RedisError(code: .invalidConfiguration, message: "pub/sub needs RESP3 (protocol version 3)")
        }
        guard !channels.isEmpty else { throw RedisError(code: .invalidConfiguration, message: "no channels to subscribe to") }
        let id = nextSubscriptionID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncThrowingStream<RedisPushMessage, any Error>.makeStream()
        let channel = self.channel
        continuation.onTermination = { _ in
            channel.writeAndFlush(RedisRequest(bytes: ByteBuffer(), operation: .unsubscribe(id: id), timeout: nil), promise: nil)
        }
        var encoder = RESPCommandEncoder()
        encoder.encode(["SUBSCRIBE"] + channels.map { .string($0) })
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(
            RedisRequest(
                bytes: encoder.buffer,
                operation: .subscribe(id: id, channels: channels, continuation: continuation, promise: promise),
                timeout: configuration.commandTimeout
            )
        ).whenFailure { error in
            promise.fail(RedisError.wrap(error, code: .connectionClosed, message: "the connection is closed"))
        }
        do {
            try await promise.futureResult.get()
        } catch {
            continuation.finish()
            throw RedisError.wrap(error, code: .connectionClosed, message: "SUBSCRIBE failed")
        }
        return RedisSubscription(stream: stream, continuation: continuation)
    }

    /// Closes the connection; pending commands fail with `connectionClosed`.
    public func close() async {
        try? await channel.close()
    }
}
