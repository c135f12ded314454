import DejaCache
import DejaGateway
import DejaRedis
import Logging
import NIOCore
import ServiceLifecycle

/// Removes cached answers by a ``DejaCache/PurgeFilter`` from every layer, on every instance.
///
/// ``purge(_:)`` removes matching entries from this instance's memory, then from the persistent store
/// (SQLite, or Redis through its version index), then publishes the filter on `<prefix>purge`. Every
/// instance runs this service, listens on that channel and removes matching entries from its own memory,
/// so no instance keeps serving a purged answer from its L1. After a lost subscription an instance
/// empties its memory tier (it may have missed a purge; Redis still holds every unpurged answer), so a
/// purge is never outlived by more than the time to resubscribe. Without Redis there is one instance.
public struct CachePurger: Service {
    /// What a purge removed, per layer.
    public struct Report: Sendable, Codable, Equatable {
        /// Entries removed from this instance's memory tier.
        public var memory: Int
        /// Entries removed from the SQLite cache; `nil` without one.
        public var sqlite: Int?
        /// Entries removed from Redis; `nil` without it.
        public var redis: Int?
        /// Whether the other instances were told to purge their memory tier (published on Redis).
        public var notified: Bool
    }

    let memory: MemoryStore?
    /// The tiered cache, whose preloaded entries (still sealed, so unreadable to a filter) every purge drops:
    /// they are copies of the persistent tier and load again on first use.
    var tiered: TieredStore? = nil
    let sqlite: SQLiteStore?
    let redis: RedisStore?
    /// The configured tasks, where Redis looks when a filter names no task.
    let tasks: [String]
    let logger: Logger

    /// The channel purges are announced on, under the store's key prefix.
    static func channel(prefix: String) -> String { prefix + "purge" }

    var channel: String { Self.channel(prefix: redis?.configuration.keyPrefix ?? RedisStore.Configuration().keyPrefix) }

    /// Purges `filter` here and announces it to the other instances; throws a 503 ``GatewayError`` when
    /// the persistent store fails (the memory tier is purged already; purging again is safe).
    public func purge(_ filter: PurgeFilter) async throws(GatewayError) -> Report {
        var report = Report(memory: memory?.removeEntries(matching: filter) ?? 0, notified: false)
        tiered?.dropAllPreloaded()
        do {
            if let sqlite { report.sqlite = try await sqlite.remove(matching: filter) }
            if let redis { report.redis = try await redis.remove(matching: filter, tasks: tasks) }
        } catch {
            logger.error("purging the persistent cache failed", metadata: ["error": "\(error)"])
            throw GatewayError(
                .internalError, "the persistent cache could not be purged (\(error.message)); memory purged \(report.memory); retry the purge",
                status: 503, underlying: error)
        }
        if let redis {
            do {
                _ = try await redis.redis.execute(PUBLISH(channel: channel, message: ByteBuffer(string: filter.wireText)))
                report.notified = true
            } catch {
                logger.warning("could not announce a purge; other instances keep their memory copies until they expire",
                               metadata: ["error": "\(error)"])
            }
        }
        logger.info("cache purged", metadata: [
            "deja.purge": "\(filter.wireText)", "deja.memory": "\(report.memory)",
            "deja.sqlite": "\(report.sqlite ?? 0)", "deja.redis": "\(report.redis ?? 0)",
        ])
        return report
    }

    /// Applies a purge announced by some instance (this one included) to the memory tier.
    func apply(announced payload: ByteBuffer) {
        guard let filter = PurgeFilter(wireText: String(buffer: payload)) else {
            logger.warning("ignoring a malformed purge announcement")
            return
        }
        let removed = memory?.removeEntries(matching: filter) ?? 0
        tiered?.dropAllPreloaded()
        logger.debug("announced purge applied", metadata: ["deja.purge": "\(filter.wireText)", "deja.memory": "\(removed)"])
    }

    public func run() async throws {
        guard let redis, memory != nil else {
            try? await gracefulShutdown()  // a service that returns early would stop the application
            return
        }
        await ChannelListener(redis: redis.redis, channel: channel, logger: logger).run(
            resubscribed: {
                memory?.removeAllEntries()
                tiered?.dropAllPreloaded()
                logger.info("purge subscription restored; memory tier emptied in case a purge was missed")
            },
            received: { apply(announced: $0) })
    }
}
