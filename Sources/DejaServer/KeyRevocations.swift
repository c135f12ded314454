import DejaCache
import DejaGateway
import DejaRedis
import Logging
import NIOCore
import ServiceLifecycle

/// Makes an API key revocation take effect at once on every gateway instance.
///
/// ``announce(keyID:)`` forgets the key in this instance's ``Authenticator`` and, with a shared Redis,
/// publishes its id; every instance runs this service, listens on the channel and forgets the keys
/// announced there. After a lost subscription an instance forgets every remembered key (it may have
/// missed an announcement), so a revocation is never outlived by more than the time to resubscribe.
/// Without Redis there is one instance, and forgetting locally is all there is to do.
public struct KeyRevocations: Service {
    let redis: (any RedisCommandExecutor)?
    let channel: String
    let authenticator: Authenticator
    let logger: Logger

    /// The channel revocations are announced on, under the store's key prefix.
    static func channel(prefix: String?) -> String { (prefix ?? RedisStore.Configuration().keyPrefix) + "revoked-keys" }

    /// Tells every running instance sharing `storage.cache` to forget `keyID` now (the command line's
    /// `deja keys revoke`); does nothing without a Redis cache.
    public static func announce(keyID: String, configuration: DejaConfiguration, logger: Logger) async throws {
        guard let url = configuration.storage.cache else { return }
        let client = try DejaComponents.redisClient(url: url, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            _ = try await client.execute(PUBLISH(channel: channel(prefix: nil), message: ByteBuffer(string: keyID)))
        }
    }

    /// Forgets `keyID` here and tells the other instances.
    func announce(keyID: String) async {
        authenticator.forget(keyID: keyID)
        guard let redis else { return }
        do {
            _ = try await redis.execute(PUBLISH(channel: channel, message: ByteBuffer(string: keyID)))
        } catch {
            logger.warning("could not announce a key revocation; other instances stop accepting the key within seconds",
                           metadata: ["deja.key_id": "\(keyID)", "error": "\(error)"])
        }
    }

    public func run() async throws {
        guard let redis else {
            try? await gracefulShutdown()  // a service that returns early would stop the application
            return
        }
        await ChannelListener(redis: redis, channel: channel, logger: logger).run(
            resubscribed: { authenticator.forgetAll() },
            received: { authenticator.forget(keyID: String(buffer: $0)) })
    }
}
