import DejaRedis
import Logging
import NIOCore
import ServiceLifecycle

/// Listens on one Redis pub/sub channel for as long as the application runs, resubscribing after a
/// lost subscription; what instances use to tell each other to forget something at once.
///
/// A message published while the subscription was down is lost, so `resubscribed` runs each time the
/// subscription comes back after a loss: the listener forgets everything it might have been told.
struct ChannelListener: Sendable {
    let redis: any RedisCommandExecutor
    let channel: String
    let logger: Logger

    /// Runs until graceful shutdown, calling `received` with each message's payload.
    func run(resubscribed: @escaping @Sendable () -> Void, received: @escaping @Sendable (ByteBuffer) -> Void) async {
        try? await cancelWhenGracefulShutdown {
            var subscribedBefore = false
            while !Task.isCancelled {
                do {
                    let subscription = try await redis.subscribe(to: [channel])
                    if subscribedBefore { resubscribed() }
                    subscribedBefore = true
                    for try await message in subscription { received(message.payload) }
                } catch {
                    logger.debug("subscription lost; resubscribing", metadata: ["deja.channel": "\(channel)", "error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
