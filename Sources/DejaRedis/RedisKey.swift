import NIOCore

/// A Redis key: bytes, usually text.
public struct RedisKey: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The key's bytes.
    public let bytes: ByteBuffer

    public init(_ text: String) { bytes = ByteBuffer(string: text) }
    public init(bytes: ByteBuffer) { self.bytes = bytes }
    public init(stringLiteral value: String) { self.init(value) }

    /// The cluster hash slot, honouring `{hash tags}`.
    public var hashSlot: HashSlot { HashSlot(key: bytes.readableBytesView) }

    /// Never the key itself: keys stay out of logs and errors.
    public var description: String { "RedisKey(\(bytes.readableBytes) bytes)" }
}
