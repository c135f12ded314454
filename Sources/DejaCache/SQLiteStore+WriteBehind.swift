import DejaCore

/// Answers written behind their response.
///
/// A miss's answer is stored after it is billed; waiting for its SQLite write (the row and four index
/// pages into the WAL, on the SQLite thread pool and back) kept the answer from its client for no
/// reason the client could see: the memory tier serves the next request for it at once. ``putBehind(_:_:sealing:)``
/// queues the write instead. Queued writes run one after another, in the order they were asked for,
/// so a later answer for a key always lands after an earlier one; every removal (a key, a purge,
/// everything, the expired) and ``close()`` first waits for the writes queued before it, so a purge
/// is never undone by an answer that was waiting to be written; a read finds a queued answer in the
/// queue. ``count()`` and the capacity report may lag a queued write by its duration.
///
/// A write that fails is logged, as a failed write always was: the answer was served, not stored. The
/// queue holds at most ``writeBehindLimit`` writes; a caller finding it full waits for its own write,
/// so a slow disk slows misses instead of growing memory.
extension SQLiteStore {
    /// Writes queued behind their responses at most; past it `putBehind` waits for its write.
    static let writeBehindLimit = 256

    struct WriteQueue {
        /// The write queued last; each write waits for the one before it.
        var last: Task<Void, Never>?
        /// Writes queued and not yet finished.
        var count = 0
        /// The newest queued answer per key, for reads until it is written.
        var pending: [CacheKey: Pending] = [:]
        var nextTicket: UInt64 = 0
    }

    struct Pending {
        var entry: CacheEntry
        var sealing: SealingDigest
        var ticket: UInt64
    }

    /// Stores `entry` under `key` after the writes queued before it, without waiting for the write
    /// (unless the queue is full). Never throws: a failed write is logged.
    public func putBehind(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async {
        let (write, full) = writes.withLock { queue -> (Task<Void, Never>, Bool) in
            queue.nextTicket += 1
            let ticket = queue.nextTicket
            queue.count += 1
            queue.pending[key] = Pending(entry: entry, sealing: sealing, ticket: ticket)
            let previous = queue.last
            let write = Task {
                await previous?.value
                do {
                    try await self.put(key, entry, sealing: sealing)
                } catch {
                    self.logger.warning("cache write failed; answer served but not stored", metadata: ["deja.error": "\(error)"])
                }
                self.writes.withLock { queue in
                    queue.count -= 1
                    if queue.pending[key]?.ticket == ticket { queue.pending[key] = nil }
                }
            }
            queue.last = write
            return (write, queue.count > Self.writeBehindLimit)
        }
        if full { await write.value }
    }

    /// Returns when every write queued before the call has finished.
    public func writesSettled() async {
        await writes.withLock { $0.last }?.value
    }

    /// The queued answer for `key`, when one waits to be written: `.some(nil)` when it cannot be
    /// opened with `sealing` or is past its retention (as the written row would read), `nil` when
    /// nothing for `key` is queued.
    func queued(_ key: CacheKey, sealing: SealingDigest) -> CacheEntry?? {
        guard let pending = writes.withLock({ $0.pending[key] }) else { return nil }
        guard pending.sealing == sealing, clock.now() < pending.entry.retainUntil else { return .some(nil) }
        return .some(pending.entry)
    }
}
