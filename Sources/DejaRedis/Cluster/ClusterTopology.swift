/// Which primary serves each of the 16384 slots, as read from `CLUSTER SHARDS` or `CLUSTER SLOTS`.
public struct ClusterTopology: Sendable, Hashable {
    /// One primary, its replicas and the slot ranges it serves.
    public struct Shard: Sendable, Hashable {
        public var slots: [ClosedRange<Int>]
        public var primary: RedisAddress
        public var replicas: [RedisAddress]
        public init(slots: [ClosedRange<Int>], primary: RedisAddress, replicas: [RedisAddress] = []) {
            self.slots = slots
            self.primary = primary
            self.replicas = replicas
        }
    }

    /// The shards, in the order the server listed them.
    public private(set) var shards: [Shard]
    /// For each slot, the index of its shard in `shards`, or -1 when no shard serves it.
    private var owners: [Int16]

    public init(shards: [Shard]) {
        self.shards = shards
        owners = Array(repeating: -1, count: HashSlot.count)
        for (index, shard) in shards.enumerated() {
            for range in shard.slots where range.lowerBound >= 0 && range.upperBound < HashSlot.count {
                for slot in range { owners[slot] = Int16(index) }
            }
        }
    }

    /// The primary serving `slot`, or `nil` when none does.
    public func primary(for slot: HashSlot) -> RedisAddress? {
        let owner = owners[Int(slot.rawValue)]
        return owner < 0 ? nil : shards[Int(owner)].primary
    }

    /// Every primary.
    public var primaries: [RedisAddress] { shards.map(\.primary) }

    /// Whether every slot has a primary.
    public var coversAllSlots: Bool { !owners.contains(-1) }

    /// Records that `slot` moved to `address` (a `MOVED` reply), adding a shard for an unknown primary.
    public mutating func assign(_ slot: HashSlot, to address: RedisAddress) {
        if let index = shards.firstIndex(where: { $0.primary == address }) {
            owners[Int(slot.rawValue)] = Int16(index)
        } else {
            let value = Int(slot.rawValue)
            shards.append(Shard(slots: [value...value], primary: address))
            owners[value] = Int16(shards.count - 1)
        }
    }

    /// Parses a `CLUSTER SHARDS` reply (RESP3 maps or RESP2 key/value arrays).
    ///
    /// Uses each shard's online primary; `endpoint` when it is usable, else `ip`.
    public init(shardsReply token: RESPToken) throws(RedisError) {
        var shards: [Shard] = []
        for shardToken in try token.array() {
            var slots: [ClosedRange<Int>] = []
            var primary: RedisAddress?
            var replicas: [RedisAddress] = []
            for (key, value) in try shardToken.keyedPairs() {
                switch key {
                case "slots":
                    let bounds = try value.array().map { (bound: RESPToken) throws(RedisError) in Int(try bound.integer()) }
                    guard bounds.count % 2 == 0 else { throw .unexpected("CLUSTER SHARDS slot list has odd length") }
                    for index in stride(from: 0, to: bounds.count, by: 2) where bounds[index] <= bounds[index + 1] {
                        slots.append(bounds[index]...bounds[index + 1])
                    }
                case "nodes":
                    for node in try value.array() {
                        var fields: [String: RESPToken] = [:]
                        for (name, field) in try node.keyedPairs() { fields[name] = field }
                        let endpoint = try fields["endpoint"]?.string()
                        let ip = try fields["ip"]?.string()
                        let host = (endpoint.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 }) ?? ip
                        var port = try fields["port"]?.integer()
                        if port == nil || port == 0 { port = try fields["tls-port"]?.integer() }
                        guard let host, let port else { continue }
                        let role = try fields["role"]?.string() ?? ""
                        let health = try fields["health"]?.string() ?? "online"
                        let address = RedisAddress(host: host, port: Int(port))
                        if role == "master" || role == "primary" {
                            if health == "online" || primary == nil { primary = address }
                        } else if health == "online" {
                            replicas.append(address)
                        }
                    }
                default:
                    continue
                }
            }
            if let primary, !slots.isEmpty { shards.append(Shard(slots: slots, primary: primary, replicas: replicas)) }
        }
        self.init(shards: shards)
    }

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id…], replica…], …]`.
    public init(slotsReply token: RESPToken) throws(RedisError) {
        var byPrimary: [RedisAddress: Shard] = [:]
        var order: [RedisAddress] = []
        for entry in try token.array() {
            let parts = try entry.array()
            guard parts.count >= 3 else { throw .unexpected("CLUSTER SLOTS entry too short") }
            let start = Int(try parts[0].integer())
            let end = Int(try parts[1].integer())
            let nodes = try parts[2...].map { (node: RESPToken) throws(RedisError) -> RedisAddress in
                let fields = try node.array()
                guard fields.count >= 2 else { throw .unexpected("CLUSTER SLOTS node too short") }
                return RedisAddress(host: try fields[0].string(), port: Int(try fields[1].integer()))
            }
            guard start <= end else { continue }
            let primary = nodes[0]
            if byPrimary[primary] == nil {
                byPrimary[primary] = Shard(slots: [], primary: primary, replicas: Array(nodes.dropFirst()))
                order.append(primary)
            }
            byPrimary[primary]!.slots.append(start...end)
        }
        self.init(shards: order.map { byPrimary[$0]! })
    }
}
