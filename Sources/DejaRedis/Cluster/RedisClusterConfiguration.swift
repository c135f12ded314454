/// Where a ``RedisClusterClient`` starts and how it behaves.
public struct RedisClusterConfiguration: Sendable {
    /// Nodes to read the topology from at first (any subset of the cluster).
    public var seeds: [RedisAddress]
    /// How connections to every node are set up (database is always 0 in a cluster).
    public var connection: RedisConnectionConfiguration
    /// Connections per node.
    public var poolSize: Int
    /// Redirect and retry limits, refresh timings.
    public var stateMachine: RedisClusterStateMachine.Configuration

    public init(
        seeds: [RedisAddress],
        connection: RedisConnectionConfiguration = .init(),
        poolSize: Int = 2,
        stateMachine: RedisClusterStateMachine.Configuration = .init()
    ) {
        self.seeds = seeds
        self.connection = connection
        self.poolSize = max(1, poolSize)
        self.stateMachine = stateMachine
    }

    /// Reads a comma-separated seed list, `host:port,host:port`.
    public init(seedList: String, connection: RedisConnectionConfiguration = .init()) throws(RedisError) {
        var seeds: [RedisAddress] = []
        for part in seedList.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let address = RedisAddress(part) else {
                throw RedisError(code: .invalidConfiguration, message: "a cluster seed must be host:port")
            }
            seeds.append(address)
        }
        guard !seeds.isEmpty else { throw RedisError(code: .invalidConfiguration, message: "the cluster seed list is empty") }
        self.init(seeds: seeds, connection: connection)
    }
}
