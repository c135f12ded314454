import DejaLedger
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Writes usage to the ledger: billed answers at once and durably, one record each; what bills nothing
/// counted in memory and written every `interval`.
///
/// Requests that bill nothing (hits at the default price, coalesced answers, idempotent replays, errors)
/// are counted in a ``UsageTally`` — per hour, tenant, key, task, outcome and status — and added to the
/// ledger's hourly counts every `interval`, off the hit path; tasks in `recordingAll` (`usage.records:
/// all`) queue one record per such request instead, as before. Either is flushed when the service stops,
/// so a graceful shutdown loses none; a SIGKILL loses what was counted or queued since the last flush
/// (at most `interval`'s worth while the ledger is up), never anything billed. A failed write stays
/// pending and is retried; the queue is bounded by `maxQueued` records, the tally by `maxQueued` content keys.
///
/// How long the ledger takes to commit is timed in ``commitMetric``: a queued batch as
/// `write="batch"`, a fresh answer's bill as `write="billed"` (see ``measuringBilledCommit(_:)``).
/// Writes on the hit path are not timed.
public final class UsageRecorder: Service, Sendable {
    /// The histogram of ledger commit durations, in seconds.
    public static let commitMetric = "deja_ledger_commit_seconds"
    /// Its buckets: 1 ms (an embedded SQLite commit) to 5 s (a ledger about to time out).
    public static let commitBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5),
    ]

    /// What waits for the next flush.
    private struct Pending {
        var records: [UsageRecord] = []
        var tally = UsageTally()
    }

    private let ledger: any Ledger
    private let pending = Mutex(Pending())
    private let recordingAll: Set<String>
    private let interval: Duration
    private let maxQueued: Int
    /// One flush at a time.
    private let flushing = WriteGate()
    private let logger: Logger
    private let batchCommits: Timer
    private let billedCommits: Timer

    /// Creates a recorder writing to `ledger`; its commit timers come from `metrics` (the bootstrapped
    /// backend unless told otherwise).
    ///
    /// `recordingAll` names the tasks whose unbilled requests keep one record each (`usage.records: all`).
    public init(
        ledger: any Ledger, interval: Duration = .milliseconds(200), maxQueued: Int = 1_000_000, recordingAll: Set<String> = [],
        logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.ledger = ledger
        self.recordingAll = recordingAll
        self.interval = interval
        self.maxQueued = maxQueued
        self.logger = logger
        self.batchCommits = Timer(label: Self.commitMetric, dimensions: [("write", "batch")], factory: metrics)
        self.billedCommits = Timer(label: Self.commitMetric, dimensions: [("write", "billed")], factory: metrics)
    }

    /// Counts a request that billed nothing for the next flush, or queues its record when its task records
    /// every request (a record that bills something is always queued whole). Never blocks on I/O.
    public func enqueue(_ record: UsageRecord) {
        enum Kept { case yes, dropped, keysDropped }
        let kept = pending.withLock { pending -> Kept in
            if record.billedTokens == 0, !recordingAll.contains(record.task) {
                pending.tally.add(record)
                guard pending.tally.keyGroups <= maxQueued else {
                    pending.tally.dropKeyCounts()
                    return .keysDropped
                }
                return .yes
            }
            guard pending.records.count < maxQueued else { return .dropped }
            pending.records.append(record)
            return .yes
        }
        switch kept {
        case .yes: break
        case .dropped: logger.error("usage queue full; record dropped", metadata: ["deja.task": "\(record.task)"])
        case .keysDropped: logger.error("usage tally full; the most repeated requests miss the time since the last flush")
        }
    }

    /// Writes a record durably before returning, settling `reservations` in the same transaction;
    /// for billed answers.
    public func recordNow(_ record: UsageRecord, settling reservations: [Reservation] = []) async throws {
        try await ledger.record([record], settling: reservations)
    }

    /// Records a gray release's shadow comparison durably.
    public func recordComparison(_ comparison: GrayComparison) async throws {
        try await ledger.recordComparison(comparison)
    }

    /// Runs `write`, the durable bill of a fresh answer, and times it as `write="billed"` — failed
    /// commits too, so a ledger that hangs until its timeout shows as slow rather than silent.
    public func measuringBilledCommit<Result>(_ write: () async throws -> Result) async rethrows -> Result {
        let start = ContinuousClock.now
        defer { billedCommits.record(duration: ContinuousClock.now - start) }
        return try await write()
    }

    /// Reserves tokens against the caller's budgets before a model call; throws the ledger's
    /// `quotaExceeded` error when a budget cannot cover them.
    public func reserve(tenant: String, keyID: String, tokens: Int64, at time: Double) async throws -> Reservation {
        try await ledger.reserve(tenant: tenant, keyID: keyID, tokens: tokens, at: time)
    }

    /// Binds a client's `Idempotency-Key` to a request, or says who holds it; see
    /// ``DejaLedger/Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)``.
    public func claimIdempotency(
        tenant: String, key: String, fingerprint: IdempotencyFingerprint, at time: Double, leaseSeconds: Double
    ) async throws -> IdempotencyClaim {
        try await ledger.claimIdempotency(tenant: tenant, key: key, fingerprint: fingerprint, at: time, leaseSeconds: leaseSeconds)
    }

    /// Gives an `Idempotency-Key` back when its request ends without a stored answer. Best effort: a
    /// lease that is not given back ends by itself.
    public func releaseIdempotency(_ lease: IdempotencyLease) async {
        do {
            try await ledger.releaseIdempotency(lease)
        } catch {
            logger.warning("releasing an Idempotency-Key failed; it frees itself when its lease ends", metadata: ["error": "\(error)"])
        }
    }

    /// Stores a billed answer under the `Idempotency-Key` its request holds and writes its record, in
    /// one transaction.
    public func recordIdempotent(_ response: IdempotentResponse, lease: IdempotencyLease, record: UsageRecord,
                                 settling reservations: [Reservation]) async throws {
        try await ledger.storeIdempotentResponse(response, tenant: lease.tenant, key: lease.key, fingerprint: lease.fingerprint,
                                                 records: [record], settling: reservations)
    }

    /// Gives reserved tokens back after a failed model call. Best effort: an unreleased reservation
    /// expires by itself.
    public func release(_ reservation: Reservation) async {
        do {
            try await ledger.release(reservation)
        } catch {
            logger.warning("releasing a quota reservation failed; it will expire", metadata: ["error": "\(error)"])
        }
    }

    /// Requests waiting for the next flush: queued records and counted requests.
    public var queued: Int { pending.withLock { $0.records.count + Int($0.tally.requests) } }

    /// Writes everything queued and counted so far, after any flush already under way: when it returns,
    /// every request enqueued before the call is in the ledger (a report flushes first, so it counts
    /// them). Returns false if the ledger refused a write (what it refused stays pending).
    @discardableResult
    public func flush() async -> Bool {
        await flushing.withGate { await flushPending() }
    }

    private func flushPending() async -> Bool {
        let (batch, tally) = pending.withLock { pending in
            defer { pending = Pending(records: [], tally: UsageTally()) }
            return (pending.records, pending.tally)
        }
        guard !batch.isEmpty || !tally.isEmpty else { return true }
        let start = ContinuousClock.now
        defer { batchCommits.record(duration: ContinuousClock.now - start) }
        var written = true
        if !batch.isEmpty {
            do {
                try await ledger.record(batch)
            } catch {
                logger.error("writing \(batch.count) usage records failed; will retry", metadata: ["error": "\(error)"])
                pending.withLock { $0.records.insert(contentsOf: batch, at: 0) }
                written = false
            }
        }
        if !tally.isEmpty {
            do {
                try await ledger.count(tally)
            } catch {
                logger.error("counting \(tally.requests) unbilled requests failed; will retry", metadata: ["error": "\(error)"])
                pending.withLock { $0.tally.add(tally) }
                written = false
            }
        }
        return written
    }

    public func run() async throws {
        // Batches are written to completion, never cancelled half-way: shutdown only ends the loop. So
        // does cancellation (the service group cancels its services when one fails, e.g. the server
        // cannot bind its port): the sleep would return at once, and the loop would spin.
        let stopping = Atomic<Bool>(false)
        await withGracefulShutdownHandler {
            while !stopping.load(ordering: .relaxed), !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                await self.flush()
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
        // Final flush: retry a few times so a brief ledger hiccup at shutdown loses nothing.
        for _ in 0..<5 {
            if await flush() { break }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}
