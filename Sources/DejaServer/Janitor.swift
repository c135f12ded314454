import DejaCache
import DejaCore
import DejaLedger
import Logging
import ServiceLifecycle

/// Deletes what has expired, every `interval`: cache entries past their retention (memory and SQLite),
/// Redis version-index members whose entries have expired (``DejaCache/RedisStore/trimIndex(task:createdBefore:)``),
/// stored idempotent responses past theirs, and quota reservations nobody settled (their owner died).
///
/// Nothing depends on it for correctness — expired entries are never served and expired reservations
/// never count — it only keeps memory and files from growing with dead rows.
struct Janitor: Service {
    let memory: MemoryStore?
    let sqlite: SQLiteStore?
    let redis: RedisStore?
    /// Per task, seconds after which no entry created then can still be stored: index members older are trimmed.
    let indexRetention: [String: Double]
    let ledger: any Ledger
    let interval: Duration
    let logger: Logger
    var clock: WallClock = .system

    func run() async throws {
        // Cancelled at graceful shutdown: a sweep half done is simply done at the next start.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await sweep()
            }
        }
    }

    func sweep() async {
        let fromMemory = memory?.purgeExpired() ?? 0
        var fromSQLite = 0
        if let sqlite {
            do {
                fromSQLite = try await sqlite.purgeExpired()
            } catch {
                logger.warning("purging the SQLite cache failed", metadata: ["error": "\(error)"])
            }
        }
        var fromIndex = 0
        if let redis {
            let now = clock.now()
            for (task, retention) in indexRetention.sorted(by: { $0.key < $1.key }) {
                do {
                    fromIndex += try await redis.trimIndex(task: task, createdBefore: now - retention)
                } catch {
                    logger.warning("trimming the Redis index failed", metadata: ["deja.task": "\(task)", "error": "\(error)"])
                }
            }
        }
        var fromLedger = (idempotentResponses: 0, reservations: 0)
        do {
            fromLedger = try await ledger.purgeExpired()
        } catch {
            logger.warning("purging expired ledger rows failed", metadata: ["error": "\(error)"])
        }
        logger.debug("expired entries purged", metadata: [
            "deja.memory": "\(fromMemory)", "deja.sqlite": "\(fromSQLite)", "deja.redis_index": "\(fromIndex)",
            "deja.idempotent": "\(fromLedger.idempotentResponses)", "deja.reservations": "\(fromLedger.reservations)",
        ])
    }
}
