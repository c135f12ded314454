/// Something that runs commands: a ``RedisClient`` (one server) or a ``RedisClusterClient``.
public protocol RedisCommandExecutor: Sendable {
    /// Sends one command and returns its decoded reply.
    func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response
    /// Subscribes to channels; messages arrive on the returned sequence.
    func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription
    /// One executor per primary, for commands that must visit every shard (`SCAN`, `INFO`, `FLUSHDB`).
    func primaries() async throws(RedisError) -> [any RedisCommandExecutor]
}
