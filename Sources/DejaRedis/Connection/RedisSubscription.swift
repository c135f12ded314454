import NIOCore

/// The messages published on the channels of one `SUBSCRIBE`, as an async sequence.
///
/// The sequence ends (with an error) when the connection closes. Dropping or cancelling the iteration
/// unsubscribes channels that no other subscription on the connection listens to.
public struct RedisSubscription: AsyncSequence, Sendable {
    public typealias Element = RedisPushMessage
    typealias Continuation = AsyncThrowingStream<RedisPushMessage, any Error>.Continuation

    let stream: AsyncThrowingStream<RedisPushMessage, any Error>
    let continuation: Continuation

    /// Ends the sequence and unsubscribes; call it when done without iterating to the end. Idempotent.
    public func cancel() { continuation.finish() }

    public func makeAsyncIterator() -> AsyncThrowingStream<RedisPushMessage, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
