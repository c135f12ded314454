import NIOCore

/// A command as a small typed value: how it is encoded, which keys it touches, how its reply is decoded.
public protocol RedisCommand: Sendable {
    /// What the command returns.
    associatedtype Response: Sendable = RESPToken

    /// The keys the command reads or writes; cluster clients route by their hash slot.
    var keysAffected: [RedisKey] { get }
    /// Whether the command changes nothing, so it may be retried after a lost connection.
    var isReadOnly: Bool { get }
    /// Appends the command to `encoder`.
    func encode(into encoder: inout RESPCommandEncoder)
    /// Decodes a reply that is not an error reply (errors are thrown before this is called).
    func decodeResponse(_ token: RESPToken) throws(RedisError) -> Response
}

extension RedisCommand {
    public var keysAffected: [RedisKey] { [] }
    public var isReadOnly: Bool { false }
}

extension RedisCommand where Response == RESPToken {
    public func decodeResponse(_ token: RESPToken) throws(RedisError) -> RESPToken { token }
}

extension RedisCommand {
    /// Decodes `token`, throwing a server error reply as ``RedisError`` with code `serverError`.
    func decode(_ token: RESPToken) throws(RedisError) -> Response {
        if let text = token.errorText { throw .server(text) }
        return try decodeResponse(token)
    }
}

/// Any command given as its words; the reply is returned as a token.
public struct RawCommand: RedisCommand {
    public var arguments: [RESPArgument]
    public var keysAffected: [RedisKey]
    public var isReadOnly: Bool

    /// A command from its words, e.g. `RawCommand(["CLIENT", "ID"])`; name its keys for cluster routing.
    public init(_ arguments: [RESPArgument], keys: [RedisKey] = [], isReadOnly: Bool = false) {
        self.arguments = arguments
        self.keysAffected = keys
        self.isReadOnly = isReadOnly
    }

    public func encode(into encoder: inout RESPCommandEncoder) { encoder.encode(arguments) }
}
