import DejaCache
import DejaCore
import DejaLedger
import Logging
import NIOCore
import Tracing

/// Holds and bills tokens in the ledger: a reservation before a model call or a budget-bound hit, the
/// billed record before the client sees a billed answer, a queued record for what is billed nothing.
struct Biller: Sendable {
    let recorder: UsageRecorder
    /// Seals the answers kept for idempotent requests, as the cache seals its entries.
    let sealer: EntrySealer
    let clock: WallClock
    /// Each durable write is a `deja.ledger_commit` span when tracing is on.
    let tracer: RequestTracer
    let logger: Logger

    static let ledgerDown = "the usage ledger is unavailable, so the answer could not be billed; retry shortly"

    /// Holds `tokens` in the caller's budgets; 429 when a budget cannot cover them.
    func reserve(_ exchange: Exchange, tokens: Int64) async throws(GatewayError) -> Reservation {
        let now = clock.now()
        do {
            return try await recorder.reserve(tenant: exchange.caller.tenant, keyID: exchange.caller.id, tokens: tokens, at: now)
        } catch let error as LedgerError where error.code == .quotaExceeded {
            let retryAfter = error.quotaExceeded?.resetsAt.map { max(1, Int(($0 - now).rounded(.up))) }
            throw GatewayError(.quotaExceeded, error.message, retryAfter: retryAfter)
        } catch {
            throw GatewayError(.ledgerUnavailable, "the usage ledger is unavailable, so the request could not be billed; retry shortly", underlying: error)
        }
    }

    func release(_ reservation: Reservation?) async {
        if let reservation { await recorder.release(reservation) }
    }

    /// Bills a fresh answer durably (with the idempotent response in the same transaction when the
    /// request has a lease), settling `reservation`. Throws when the ledger did not take it: then
    /// nobody gets the answer.
    func bill(_ record: UsageRecord, answer entry: CacheEntry, key: CacheKey, sealing: SealingDigest, reservation: Reservation?,
              idempotency: IdempotencyLease?) async throws(GatewayError) {
        try await commit(record, idempotent: idempotency != nil) { () async throws(GatewayError) in
            try await write(record, answer: entry, key: key, sealing: sealing, reservation: reservation, idempotency: idempotency)
        }
    }

    private func write(_ record: UsageRecord, answer entry: CacheEntry, key: CacheKey, sealing: SealingDigest, reservation: Reservation?,
                       idempotency: IdempotencyLease?) async throws(GatewayError) {
        let settling = reservation.map { [$0] } ?? []
        // Sealed before the timer starts: `deja_ledger_commit_seconds` measures the ledger alone.
        let stored = idempotency.map { _ in idempotentResponse(record, answer: entry, key: key, sealing: sealing) }
        do {
            try await recorder.measuringBilledCommit {
                if let idempotency, let stored {
                    try await recorder.recordIdempotent(stored, lease: idempotency, record: record, settling: settling)
                } else {
                    try await recorder.recordNow(record, settling: settling)
                }
            }
        } catch let error as LedgerError where error.code == .idempotencyConflict {
            throw GatewayError(.idempotencyConflict, "another request with this Idempotency-Key was answered first; retry to get its answer")
        } catch let error as LedgerError where error.code == .idempotencyMismatch {
            throw Gateway.idempotencyMismatch
        } catch {
            logger.error("ledger write failed; answer withheld", metadata: ["error": "\(error)"])
            throw GatewayError(.ledgerUnavailable, Self.ledgerDown, underlying: error)
        }
    }

    /// The answer kept under a request's `Idempotency-Key`, sealed like a cache entry.
    private func idempotentResponse(_ record: UsageRecord, answer entry: CacheEntry, key: CacheKey, sealing: SealingDigest) -> IdempotentResponse {
        var headers = ["x-deja-cache": record.outcome.rawValue, "x-deja-key": key.hex, "x-deja-tokens": String(record.meteredTokens),
                       "x-deja-model-version": entry.modelVersion, "content-type": entry.contentType]
        if entry.redactions > 0 { headers["x-deja-redacted"] = String(entry.redactions) }
        return IdempotentResponse(
            status: 200,
            headers: headers,
            body: Array(buffer: sealer.seal(entry.body, name: key, sealing: sealing, purpose: .idempotentAnswer)),
            createdAt: record.time
        )
    }

    /// Bills an answer served from a stored entry as `serving` says: holds its reservation first, then
    /// records it — durably before the client sees it when it costs anything, queued when it is free.
    func bill(_ record: UsageRecord, serving: CachedAnswerPolicy.Serving, exchange: Exchange) async throws(GatewayError) {
        var reservation: Reservation?
        if let tokens = serving.reservation {
            reservation = try await reserve(exchange, tokens: tokens)
        }
        guard serving.billed > 0 else {
            await release(reservation)
            recorder.enqueue(record)
            return
        }
        try await commit(record, idempotent: false) { () async throws(GatewayError) in
            do {
                try await recorder.recordNow(record, settling: reservation.map { [$0] } ?? [])
            } catch {
                await release(reservation)
                throw GatewayError(.ledgerUnavailable, Self.ledgerDown, underlying: error)
            }
        }
    }

    /// Runs a durable write of `record`, in a `deja.ledger_commit` span when tracing is on.
    private func commit(
        _ record: UsageRecord, idempotent: Bool, _ write: () async throws(GatewayError) -> Void
    ) async throws(GatewayError) {
        guard tracer.isOn else { return try await write() }
        try await tracer.span(SpanName.ledgerCommit) { span async throws(GatewayError) in
            span?.updateAttributes { attributes in
                attributes[TraceAttribute.task] = record.task
                attributes[TraceAttribute.outcome] = record.outcome.rawValue
                attributes[TraceAttribute.tenant] = record.tenant
                attributes[TraceAttribute.tokens] = Int(record.meteredTokens)
                attributes[TraceAttribute.billedTokens] = Int(record.billedTokens)
                attributes[TraceAttribute.idempotent] = idempotent
            }
            try await write()
        }
    }

    /// Queues a record billed nothing (hits, replays, errors).
    func enqueue(_ record: UsageRecord) {
        recorder.enqueue(record)
    }
}
