import DejaCache
import DejaCore
import DejaLedger
import Logging
import ServiceLifecycle

/// Deletes what has expired, every `interval`: cache entries past their retention (memory and SQLite),
/// Redis version-index members whose entries have expired (``DejaCache/RedisStore/trimIndex(task:createdBefore:)``),
/// stored idempotent responses past theirs, quota reservations nobody settled (their owner died), and
/// usage past its retention (`storage.recordRetentionDays`, `storage.countRetentionDays`).
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
    /// Seconds usage records (billed answers; every request of a `usage.records: all` task) are kept; `nil`: forever.
    var recordRetention: Double?
    /// Seconds the hourly counts of what billed nothing are kept; `nil`: forever.
    var countRetention: Double?

    /// Usage rows deleted per step, and steps per sweep: a step is one short write, and the pause
    /// between steps lets billed answers' writes go first, so the ledger never stalls on retention.
    static let usageStep = 1_000
    static let usageSteps = 500
    static let usagePause: Duration = .milliseconds(20)

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
        do {
            try await ledger.preparePartitions(at: clock.now())
        } catch {
            logger.warning("adding usage partitions failed", metadata: ["error": "\(error)"])
        }
        let fromUsage = await purgeUsage()
        logger.debug("expired entries purged", metadata: [
            "deja.memory": "\(fromMemory)", "deja.sqlite": "\(fromSQLite)", "deja.redis_index": "\(fromIndex)",
            "deja.idempotent": "\(fromLedger.idempotentResponses)", "deja.reservations": "\(fromLedger.reservations)",
            "deja.usage": "\(fromUsage)",
        ])
    }

    /// Deletes usage past its retention, oldest first, in steps of ``usageStep`` rows with a pause between
    /// them, until none is left or ``usageSteps`` steps are done (the next sweep goes on). Returns the rows deleted.
    func purgeUsage() async -> Int {
        guard recordRetention != nil || countRetention != nil else { return 0 }
        let now = clock.now()
        var deleted = 0
        for step in 0..<Self.usageSteps {
            if step > 0 { try? await Task.sleep(for: Self.usagePause) }
            do {
                let rows = try await ledger.purgeUsage(
                    recordsBefore: recordRetention.map { now - $0 }, countsBefore: countRetention.map { now - $0 }, limit: Self.usageStep
                )
                deleted += rows
                if rows == 0 { break }
            } catch {
                logger.warning("deleting usage past its retention failed", metadata: ["error": "\(error)"])
                break
            }
        }
        return deleted
    }
}
