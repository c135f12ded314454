import DejaCore
import SQLiteNIO

/// Answers written behind their response.
///
/// A miss's answer is stored after it is billed. Waiting for its SQLite write (a trip to the SQLite
/// thread pool and back, the row and its index pages into the WAL) kept the answer from its client
/// for no reason the client could see: the memory tier serves the next request for it at once.
/// ``putBehind(_:_:sealing:)`` queues the write instead, and one writer drains the queue: everything
/// queued when it looks, up to ``writeBehindBatch`` answers, sealed and written by one statement, so
/// under load the writes keep pace with the misses (one trip and one set of index pages per batch, not
/// per answer).
///
/// Queued writes land in the order they were asked for: a later answer for a key always lands after an
/// earlier one. Every removal (a key, a purge, everything, the expired) and ``close()`` first waits for
/// the writes queued before it, so a purge is never undone by an answer that was waiting to be written;
/// a read finds a queued answer in the queue. ``count()`` and the capacity report may lag a queued write
/// by its duration.
///
/// A write that fails is logged, as a failed write always was: the answer was served, not stored. At
/// most ``writeBehindLimit`` writes wait; a caller finding more waits for its own write, so a slow disk
/// slows misses instead of growing memory.
extension SQLiteStore {
    /// Writes waiting behind their responses at most; past it `putBehind` waits for its write.
    static let writeBehindLimit = 256
    /// Answers written by one statement at most (8 bound values each, far under SQLite's limit).
    static let writeBehindBatch = 256

    struct WriteQueue {
        /// Writes not yet taken by the writer, oldest first.
        var queued: [QueuedWrite] = []
        /// The newest queued or in-flight answer per key, for reads until it is written.
        var pending: [CacheKey: QueuedWrite] = [:]
        /// Whether a writer is draining `queued`.
        var draining = false
        /// The ticket of the newest write asked for.
        var lastTicket: UInt64 = 0
        /// Every write up to this ticket has finished (written or failed).
        var finished: UInt64 = 0
        /// Callers waiting for the writes up to a ticket.
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    struct QueuedWrite {
        var key: CacheKey
        var entry: CacheEntry
        var sealing: SealingDigest
        var ticket: UInt64
    }

    /// Stores `entry` under `key` after the writes queued before it, without waiting for the write
    /// (unless more than ``writeBehindLimit`` wait). Never throws: a failed write is logged.
    public func putBehind(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async {
        let (ticket, startWriter, full) = writes.withLock { queue -> (UInt64, Bool, Bool) in
            queue.lastTicket += 1
            let write = QueuedWrite(key: key, entry: entry, sealing: sealing, ticket: queue.lastTicket)
            queue.queued.append(write)
            queue.pending[key] = write
            presence.withLock { $0.stored(key) }
            let startWriter = !queue.draining
            queue.draining = true
            return (write.ticket, startWriter, queue.lastTicket - queue.finished > UInt64(Self.writeBehindLimit))
        }
        if startWriter { Task { await self.drainWrites() } }
        if full { await writesFinished(upTo: ticket) }
    }

    /// Returns when every write queued before the call has finished.
    public func writesSettled() async {
        await writesFinished(upTo: writes.withLock { $0.lastTicket })
    }

    private func writesFinished(upTo ticket: UInt64) async {
        guard writes.withLock({ $0.finished < ticket }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = writes.withLock { queue -> Bool in
                guard queue.finished < ticket else { return true }
                queue.waiters.append((ticket, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The queued answer for `key`, when one waits to be written: `.some(nil)` when it cannot be
    /// opened with `sealing` or is past its retention (as the written row would read), `nil` when
    /// nothing for `key` is queued.
    func queued(_ key: CacheKey, sealing: SealingDigest) -> CacheEntry?? {
        guard let pending = writes.withLock({ $0.pending[key] }) else { return nil }
        guard pending.sealing == sealing, clock.now() < pending.entry.retainUntil else { return .some(nil) }
        return .some(pending.entry)
    }

    /// The writer: takes what is queued, a batch at a time, until nothing is; then stops (the next
    /// `putBehind` starts another).
    private func drainWrites() async {
        while true {
            let batch = writes.withLock { queue -> [QueuedWrite] in
                guard !queue.queued.isEmpty else {
                    queue.draining = false
                    return []
                }
                let batch = Array(queue.queued.prefix(Self.writeBehindBatch))
                queue.queued.removeFirst(batch.count)
                return batch
            }
            guard let last = batch.last else { return }
            do {
                try await write(batch)
            } catch {
                logger.warning("cache write failed; answer served but not stored", metadata: [
                    "deja.cache": "sqlite", "deja.answers": "\(batch.count)", "deja.error": "\(error)",
                ])
            }
            let ready = writes.withLock { queue -> [CheckedContinuation<Void, Never>] in
                queue.finished = last.ticket
                for write in batch where queue.pending[write.key]?.ticket == write.ticket {
                    queue.pending[write.key] = nil
                }
                var ready: [CheckedContinuation<Void, Never>] = []
                queue.waiters.removeAll { waiter in
                    guard waiter.ticket <= last.ticket else { return false }
                    ready.append(waiter.continuation)
                    return true
                }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }
    }

    /// Writes `batch` as ``put(_:_:sealing:)`` would, one call after another: the last answer per key
    /// is upserted, by one statement for all keys; a key whose last answer is already past its
    /// retention is deleted instead.
    private func write(_ batch: [QueuedWrite]) async throws(CacheStoreError) {
        var seen = Set<CacheKey>()
        var binds: [SQLiteData] = []
        var expired: [SQLiteData] = []
        let now = clock.now()
        for write in batch.reversed() where seen.insert(write.key).inserted {
            guard now < write.entry.retainUntil else {
                expired.append(.blob(Self.blob(write.key)))
                continue
            }
            binds.append(contentsOf: row(write.key, write.entry, sealing: write.sealing))
        }
        if !binds.isEmpty {
            let rows = repeatElement("(?, ?, ?, ?, ?, ?, ?, ?)", count: binds.count / Self.upsertColumns).joined(separator: ", ")
            try await run("could not write to the SQLite cache") {
                _ = try await connection.query(Self.upsert(values: rows), binds)
            }
        }
        if !expired.isEmpty {
            let keys = repeatElement("?", count: expired.count).joined(separator: ", ")
            try await run("could not delete from the SQLite cache") {
                _ = try await connection.query("DELETE FROM cache_entries WHERE key IN (\(keys))", expired)
            }
        }
    }
}
