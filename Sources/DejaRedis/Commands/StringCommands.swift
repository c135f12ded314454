import NIOCore

/// `GET key`: the value, or `nil` when the key does not exist.
public struct GET: RedisCommand {
    public var key: RedisKey
    public init(_ key: RedisKey) { self.key = key }
    public var keysAffected: [RedisKey] { [key] }
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["GET", .key(key)]) }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> ByteBuffer? { try token.bytes() }
}

/// `MGET key …`: one value (or `nil`) per key, in order. In a cluster all keys must share a slot.
public struct MGET: RedisCommand {
    public var keys: [RedisKey]
    public init(_ keys: [RedisKey]) { self.keys = keys }
    public var keysAffected: [RedisKey] { keys }
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) {
        encoder.encode(["MGET"] + keys.map { .key($0) })
    }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> [ByteBuffer?] {
        try token.array().map { (element: RESPToken) throws(RedisError) in try element.bytes() }
    }
}

/// `SET key value [NX|XX] [PX ms]`: returns whether the value was set (false when NX/XX prevented it).
public struct SET: RedisCommand {
    /// When to set.
    public enum Condition: Sendable, Hashable {
        /// Only if the key does not exist (`NX`).
        case ifNotExists
        /// Only if the key exists (`XX`).
        case ifExists
    }

    public var key: RedisKey
    public var value: ByteBuffer
    public var condition: Condition?
    /// Time to live in milliseconds (`PX`); `nil` for none.
    public var milliseconds: Int64?

    public init(_ key: RedisKey, value: ByteBuffer, condition: Condition? = nil, milliseconds: Int64? = nil) {
        self.key = key
        self.value = value
        self.condition = condition
        self.milliseconds = milliseconds
    }

    public var keysAffected: [RedisKey] { [key] }

    public func encode(into encoder: inout RESPCommandEncoder) {
        var arguments: [RESPArgument] = ["SET", .key(key), .bytes(value)]
        switch condition {
        case .ifNotExists: arguments.append("NX")
        case .ifExists: arguments.append("XX")
        case nil: break
        }
        if let milliseconds { arguments += ["PX", .integer(milliseconds)] }
        encoder.encode(arguments)
    }

    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> Bool {
        switch token.value {
        case .null: return false
        case .simpleString: return true
        default: throw .unexpected("SET expects OK or null, got \(token.type)")
        }
    }
}

/// `DEL key …`: how many keys were removed. In a cluster all keys must share a slot.
public struct DEL: RedisCommand {
    public var keys: [RedisKey]
    public init(_ keys: [RedisKey]) { self.keys = keys }
    public var keysAffected: [RedisKey] { keys }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["DEL"] + keys.map { .key($0) }) }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> Int { Int(try token.integer()) }
}

/// `PTTL key`: milliseconds left, -1 without expiry, -2 when the key does not exist.
public struct PTTL: RedisCommand {
    public var key: RedisKey
    public init(_ key: RedisKey) { self.key = key }
    public var keysAffected: [RedisKey] { [key] }
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["PTTL", .key(key)]) }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> Int64 { try token.integer() }
}

/// `SCAN cursor [MATCH pattern] [COUNT n]`: the next cursor ("0" when done) and a batch of keys.
public struct SCAN: RedisCommand {
    public var cursor: String
    public var pattern: String?
    public var count: Int?
    public init(cursor: String = "0", pattern: String? = nil, count: Int? = nil) {
        self.cursor = cursor
        self.pattern = pattern
        self.count = count
    }
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) {
        var arguments: [RESPArgument] = ["SCAN", .string(cursor)]
        if let pattern { arguments += ["MATCH", .string(pattern)] }
        if let count { arguments += ["COUNT", .integer(Int64(count))] }
        encoder.encode(arguments)
    }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> (cursor: String, keys: [RedisKey]) {
        let parts = try token.array()
        guard parts.count == 2 else { throw .unexpected("SCAN expects two elements") }
        let keys = try parts[1].array().map { (element: RESPToken) throws(RedisError) in
            guard let bytes = try element.bytes() else { throw RedisError.unexpected("SCAN returned a null key") }
            return RedisKey(bytes: bytes)
        }
        return (try parts[0].string(), keys)
    }
}
