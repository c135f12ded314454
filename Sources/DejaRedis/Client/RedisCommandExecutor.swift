import NIOCore

/// Something that runs commands: a ``RedisClient`` (one server) or a ``RedisClusterClient``.
public protocol RedisCommandExecutor: Sendable {
    /// Sends one command and returns its decoded reply.
    func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response
    /// Subscribes to channels; messages arrive on the returned sequence.
    func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription
    /// One executor per primary, for commands that must visit every shard (`SCAN`, `INFO`, `FLUSHDB`).
    func primaries() async throws(RedisError) -> [any RedisCommandExecutor]
    /// Sends one command without suspending, on a connection that is already open — one whose channel
    /// runs on `eventLoop` when there is one, so the command is written and its reply read without
    /// leaving that loop; `nil` when none is open (connecting, backing off, or an executor that cannot
    /// route without waiting): use ``execute(_:)``.
    func executeNow<Command: RedisCommand>(_ command: Command, on eventLoop: (any EventLoop)?) -> EventLoopFuture<Command.Response>?
}

extension RedisCommandExecutor {
    public func executeNow<Command: RedisCommand>(_ command: Command, on eventLoop: (any EventLoop)?) -> EventLoopFuture<Command.Response>? { nil }

    /// ``executeNow(_:on:)`` on any open connection.
    public func executeNow<Command: RedisCommand>(_ command: Command) -> EventLoopFuture<Command.Response>? {
        executeNow(command, on: nil)
    }
}
