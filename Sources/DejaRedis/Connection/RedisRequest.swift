import NIOCore

/// What travels down the pipeline to ``RedisChannelHandler``: encoded commands and what to do with replies.
struct RedisRequest: Sendable {
    enum Operation: Sendable {
        /// Ordinary commands, one promise per command in `bytes`, in order.
        case commands([EventLoopPromise<RESPToken>])
        /// `SUBSCRIBE` for a subscription: register it, and succeed once every channel is confirmed.
        case subscribe(id: Int, channels: [String], continuation: RedisSubscription.Continuation, promise: EventLoopPromise<Void>)
        /// Drops a subscription; unsubscribes channels nobody listens to any more.
        case unsubscribe(id: Int)
    }

    var bytes: ByteBuffer
    var operation: Operation
    /// Per-command timeout; `nil` for none.
    var timeout: TimeAmount?
}
