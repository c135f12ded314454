import NIOCore

/// A message published on a channel this connection subscribes to.
public struct RedisPushMessage: Sendable, Hashable {
    /// The channel it was published on.
    public let channel: String
    /// The message bytes.
    public let payload: ByteBuffer
}
