import DejaCore
import DejaLedger
import Logging
import NIOCore

/// Requests with an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): the key is bound
/// to a fingerprint of the request, the first request answers, and every other one with the same key
/// either waits for that answer and gets it back billed 0, or — carrying a different request — is
/// refused with 422. Several gateway instances share the binding through the ledger.
extension Gateway {
    /// Refused: the key names another request.
    static let idempotencyMismatch = GatewayError(
        .idempotencyMismatch,
        "this Idempotency-Key was already used with a different request; send a new key with a new request", status: 422)

    /// What binds an `Idempotency-Key` to one request: SHA-256 over tenant, task and content key, so a
    /// retry that spells the same request differently (key order, a volatile id) still matches.
    static func fingerprint(tenant: String, task: String, key: CacheKey) -> IdempotencyFingerprint {
        let digest = KeyEncoding.digest(fields: [Array("deja-idempotency-v1".utf8), Array(tenant.utf8), Array(task.utf8), key.bytes])
        // A SHA-256 digest is always 32 bytes.
        return IdempotencyFingerprint(bytes: Array(digest))!
    }

    /// Answers a request with an `Idempotency-Key` at most once.
    func answerOnce(_ exchange: Exchange, idempotencyKey: String) async -> TaskResponse {
        let task = exchange.task, caller = exchange.caller
        let fingerprint = Self.fingerprint(tenant: caller.tenant, task: task.policy.task, key: exchange.resolvedKey)
        // Long enough for one model call after a wait in the queue; a holder that died frees it after that.
        let leaseSeconds = Double(task.lockSeconds) + 30
        var pause = 0.05
        var conflicts = 0
        while true {
            let claim: IdempotencyClaim
            do {
                claim = try await recorder.claimIdempotency(
                    tenant: caller.tenant, key: idempotencyKey, fingerprint: fingerprint, at: clock.now(), leaseSeconds: leaseSeconds)
            } catch {
                return responder.failure(exchange, error: GatewayError(
                    .ledgerUnavailable, "the usage ledger is unavailable, so the Idempotency-Key cannot be checked; retry shortly",
                    underlying: error))
            }
            switch claim {
            case .completed(let stored):
                guard let body = open(stored, exchange: exchange) else {
                    return responder.failure(exchange, error: Self.idempotentAnswerSealed)
                }
                return replay(stored, body: body, exchange: exchange)
            case .mismatch:
                return responder.failure(exchange, error: Self.idempotencyMismatch)
            case .inProgress(let until):
                // The same request is being answered (here or on another instance): wait for its answer
                // instead of running it again. A holder that died stops holding at `until`.
                let wait = min(pause, max(0.01, until - clock.now()))
                do {
                    try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
                } catch {
                    return responder.failure(exchange, error: GatewayError(
                        .requestTimeout, "the request was cancelled while waiting for the first request with this Idempotency-Key"))
                }
                pause = min(pause * 2, 0.5)
            case .claimed(let lease):
                let response = await answer(exchange, idempotency: lease)
                // A stored answer ended the claim already; anything else (a hit, an error) gives the key back.
                await recorder.releaseIdempotency(lease)
                if response.status == 409, conflicts < 3 {
                    conflicts += 1
                    continue  // the same request was stored first (a lease taken over): replay that answer
                }
                return response
            }
        }
    }

    /// Refused: the answer kept for the key does not open (its secret was retired too early).
    static let idempotentAnswerSealed = GatewayError(
        .idempotencyConflict,
        "the answer kept for this Idempotency-Key was sealed with a secret that is no longer configured, so it cannot be sent again (it was billed once); send the request with a new Idempotency-Key",
        status: 409)

    /// The body of an answer kept for an idempotent request, opened with the retry's own sealing digest
    /// (a retry is the same request, so it has it); `nil` when it does not open.
    func open(_ stored: IdempotentResponse, exchange: Exchange) -> ByteBuffer? {
        guard stored.status == 200 else { return ByteBuffer(bytes: stored.body) }
        let opened = biller.sealer.open(
            ByteBuffer(bytes: stored.body), name: exchange.resolvedKey, sealing: exchange.resolvedSealing, purpose: .idempotentAnswer)
        if case .success(let body) = opened { return body }
        logger.warning("an idempotent answer does not open with the configured secrets", metadata: [
            "deja.task": "\(exchange.taskName)", "deja.tenant": "\(exchange.caller.tenant)",
        ])
        return nil
    }

    /// The stored answer to an earlier request with this `Idempotency-Key`, billed nothing.
    func replay(_ stored: IdempotentResponse, body: ByteBuffer, exchange: Exchange) -> TaskResponse {
        let task = exchange.task, caller = exchange.caller, started = exchange.started
        let tokens = stored.headers["x-deja-tokens"].flatMap { Int64($0) } ?? 0
        let now = clock.now()
        biller.enqueue(UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: .hit,
            meteredTokens: tokens, billedTokens: 0, latencyMicros: Int64((now - started) * 1e6), status: stored.status, modelSeconds: 0,
            contentKey: stored.headers["x-deja-key"].flatMap { CacheKey(hex: $0) }
        ))
        metrics.record(task: task.policy.task, outcome: .hit, seconds: now - started, tokens: tokens, billed: 0)
        // Answered from the stored response: a hit, as the ledger records it (the first answer's own
        // outcome was the miss that billed it).
        var response = TaskResponse(
            status: stored.status, outcome: .hit,
            key: stored.headers["x-deja-key"].flatMap { CacheKey(hex: $0) }, tokens: tokens, billed: 0,
            modelVersion: stored.headers["x-deja-model-version"], age: max(0, Int(now - stored.createdAt)),
            contentType: stored.headers["content-type"] ?? "application/json",
            body: task.taskProtocol.render(stored: body, echo: exchange.echo)
        )
        response.replayed = true
        response.redacted = stored.headers["x-deja-redacted"].flatMap { Int($0) } ?? 0
        return response
    }
}
