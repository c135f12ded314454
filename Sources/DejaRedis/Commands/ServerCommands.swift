import NIOCore

/// `PING`: returns `PONG`.
public struct PING: RedisCommand {
    public init() {}
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["PING"]) }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> String { try token.string() }
}

/// `HELLO protover [AUTH user pass] [SETNAME name]`: switches protocol; returns the server's properties.
public struct HELLO: RedisCommand {
    public var protocolVersion: Int
    public var username: String?
    public var password: String?
    public var clientName: String?
    public init(protocolVersion: Int, username: String? = nil, password: String? = nil, clientName: String? = nil) {
        self.protocolVersion = protocolVersion
        self.username = username
        self.password = password
        self.clientName = clientName
    }
    public func encode(into encoder: inout RESPCommandEncoder) {
        var arguments: [RESPArgument] = ["HELLO", .integer(Int64(protocolVersion))]
        if let password { arguments += ["AUTH", .string(username ?? "default"), .string(password)] }
        if let clientName { arguments += ["SETNAME", .string(clientName)] }
        encoder.encode(arguments)
    }
}

/// `AUTH [user] pass`.
public struct AUTH: RedisCommand {
    public var username: String?
    public var password: String
    public init(username: String? = nil, password: String) {
        self.username = username
        self.password = password
    }
    public func encode(into encoder: inout RESPCommandEncoder) {
        if let username { encoder.encode(["AUTH", .string(username), .string(password)]) }
        else { encoder.encode(["AUTH", .string(password)]) }
    }
}

/// `SELECT db`.
public struct SELECT: RedisCommand {
    public var database: Int
    public init(_ database: Int) { self.database = database }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["SELECT", .integer(Int64(database))]) }
}

/// `INFO [section]`: the report as text.
public struct INFO: RedisCommand {
    public var section: String?
    public init(_ section: String? = nil) { self.section = section }
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) {
        if let section { encoder.encode(["INFO", .string(section)]) } else { encoder.encode(["INFO"]) }
    }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> String { try token.string() }
}

extension INFO {
    /// The `field:value` lines of an INFO report.
    public static func fields(_ report: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in report.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return fields
    }
}

/// `PUBLISH channel message`: how many subscribers received it (on this node).
public struct PUBLISH: RedisCommand {
    public var channel: String
    public var message: ByteBuffer
    public init(channel: String, message: ByteBuffer) {
        self.channel = channel
        self.message = message
    }
    public func encode(into encoder: inout RESPCommandEncoder) {
        encoder.encode(["PUBLISH", .string(channel), .bytes(message)])
    }
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> Int { Int(try token.integer()) }
}

/// `EVALSHA sha numkeys key… arg…`; on `NOSCRIPT` callers fall back to ``EVAL``.
public struct EVALSHA: RedisCommand {
    public var sha1: String
    public var keys: [RedisKey]
    public var arguments: [RESPArgument]
    public init(sha1: String, keys: [RedisKey], arguments: [RESPArgument]) {
        self.sha1 = sha1
        self.keys = keys
        self.arguments = arguments
    }
    public var keysAffected: [RedisKey] { keys }
    public func encode(into encoder: inout RESPCommandEncoder) {
        encoder.encode(["EVALSHA", .string(sha1), .integer(Int64(keys.count))] + keys.map { .key($0) } + arguments)
    }
}

/// `EVAL script numkeys key… arg…`.
public struct EVAL: RedisCommand {
    public var script: String
    public var keys: [RedisKey]
    public var arguments: [RESPArgument]
    public init(script: String, keys: [RedisKey], arguments: [RESPArgument]) {
        self.script = script
        self.keys = keys
        self.arguments = arguments
    }
    public var keysAffected: [RedisKey] { keys }
    public func encode(into encoder: inout RESPCommandEncoder) {
        encoder.encode(["EVAL", .string(script), .integer(Int64(keys.count))] + keys.map { .key($0) } + arguments)
    }
}

/// `ASKING`: lets the next command on this connection run on a slot being imported.
public struct ASKING: RedisCommand {
    public init() {}
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["ASKING"]) }
}

/// `CLUSTER SHARDS` (Redis 7+).
public struct CLUSTER_SHARDS: RedisCommand {
    public init() {}
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["CLUSTER", "SHARDS"]) }
}

/// `CLUSTER SLOTS` (older servers).
public struct CLUSTER_SLOTS: RedisCommand {
    public init() {}
    public var isReadOnly: Bool { true }
    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(["CLUSTER", "SLOTS"]) }
}
