/// One node as the cluster client uses it; ``RedisClient`` in production, fakes in tests.
public protocol RedisClusterNode: RedisCommandExecutor {
    /// Sends `command`, preceded by `ASKING` on the same connection when `asking`.
    func execute<Command: RedisCommand>(_ command: Command, asking: Bool) async throws(RedisError) -> Command.Response
    /// Closes the node's connections.
    func shutdown() async
}

extension RedisClient: RedisClusterNode {
    public func execute<Command: RedisCommand>(_ command: Command, asking: Bool) async throws(RedisError) -> Command.Response {
        guard asking else { return try await execute(command) }
        var encoder = RESPCommandEncoder()
        ASKING().encode(into: &encoder)
        command.encode(into: &encoder)
        let results = try await anyConnection().send(encoder.buffer, count: 2)
        return try command.decode(try results[1].get())
    }
}
