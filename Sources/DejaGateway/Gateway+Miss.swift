import DejaCore
import DejaLedger
import Logging
import NIOCore

/// Misses: the model's answer, metered, billed before anyone sees it, screened and stored.
extension Gateway {
    /// A model's answer as the request that paid for it gets it, and as everyone else does.
    struct Filled: Sendable {
        /// The answer as the model wrote it, for the request whose model call it was.
        var answer: CacheEntry
        /// The copy that is stored and shared (hits, coalesced requests, idempotent replays): the
        /// answer with the task's sensitive matches masked, or the answer itself.
        var kept: CacheEntry
        /// Whether `kept` was stored under the request's key.
        var stored = false
    }

    /// Calls the model for `exchange`, bills the answer to whom `billing` says and stores it as `rule`
    /// says. A billed call first holds what the smallest answer is worth in the caller's budgets, so a
    /// request the budget cannot cover never reaches the model; the hold is settled with the billed
    /// record, or given back if the call fails. A rejection (the model's 4xx) is remembered for the
    /// negative TTL (unless `no-store`) and thrown.
    func fill(
        _ exchange: Exchange, forward: [UInt8], outcome: Outcome, billing: Billing, store rule: StoreRule,
        idempotency: IdempotencyLease? = nil
    ) async throws(GatewayError) -> Filled {
        try model.refuseRecentFailure(exchange.resolvedKey)
        var reservation: Reservation?
        if billing == .caller {
            let smallest = exchange.task.taskProtocol.minimumMeasurement(forwardBody: forward)
            reservation = try await biller.reserve(exchange, tokens: max(1, exchange.task.meter.tokens(for: smallest)))
        }
        do {
            return try await fillReserved(exchange, forward: forward, outcome: outcome, billing: billing, store: rule,
                                          reservation: reservation, idempotency: idempotency)
        } catch {
            await biller.release(reservation)
            throw error
        }
    }

    private func fillReserved(
        _ exchange: Exchange, forward: [UInt8], outcome: Outcome, billing: Billing, store rule: StoreRule,
        reservation: Reservation?, idempotency: IdempotencyLease?
    ) async throws(GatewayError) -> Filled {
        let task = exchange.task, key = exchange.resolvedKey, sealing = exchange.resolvedSealing
        let answer: ModelAnswer, seconds: Double
        switch try await model.call(task, key: key, forward: forward, tenant: exchange.caller.tenant) {
        case .answer(let modelAnswer, let took):
            (answer, seconds) = (modelAnswer, took)
        case .rejected(let error, var remembered):
            remembered?.producer = exchange.producer
            remembered?.task = exchange.taskName
            remembered?.scopeTag = exchange.scopeTag
            if rule != .skip, let remembered { await store.put(key, remembered, sealing: sealing) }
            throw error
        }
        let now = clock.now()
        let tokens = task.meter.tokens(for: task.taskProtocol.measure(answer, forwardBody: forward))
        let expiresAt = task.expiry(from: now, unit: Double.random(in: -1...1))
        let entry = CacheEntry(
            body: answer.stored, modelVersion: task.policy.modelVersion, meteredTokens: tokens, upstreamSeconds: seconds,
            createdAt: now, expiresAt: expiresAt,
            retainUntil: expiresAt + max(task.freshness.staleIfError, task.freshness.staleWhileRevalidate),
            producer: exchange.producer, task: exchange.taskName, scopeTag: exchange.scopeTag
        )
        // Sensitive data: what is kept and shared is masked, or not stored at all.
        var storing = rule
        var kept = entry
        let answerBytes = Array(buffer: answer.stored)
        let screening = task.sensitive.screen(answer: answerBytes, input: task.policy.binaryFields.isEmpty ? forward : nil)
        if !screening.matches.isEmpty {
            metrics.countSensitive(task: exchange.taskName, screening)
            let masked = screening.masked
            if !masked.isEmpty {
                let redaction = SensitiveScanner.redact(json: answerBytes, kinds: masked)
                kept.body = ByteBuffer(bytes: redaction.bytes)
                kept.redactions = redaction.counts.values.reduce(0, +)
            }
            if screening.skip { storing = .skip }
        }
        // Billed before anyone sees the answer: if the ledger cannot take it, nobody gets it.
        let record = UsageRecord(
            time: now, tenant: exchange.caller.tenant, keyID: exchange.caller.id, task: exchange.taskName, outcome: outcome,
            meteredTokens: tokens, billedTokens: billing == .caller ? tokens : 0, latencyMicros: Int64((now - exchange.started) * 1e6),
            status: 200, modelSeconds: seconds, contentKey: key
        )
        try await biller.bill(record, answer: kept, key: key, sealing: sealing, reservation: reservation, idempotency: idempotency)
        metrics.record(task: exchange.taskName, outcome: outcome, seconds: now - exchange.started, tokens: tokens, billed: record.billedTokens)
        var stored = false
        switch storing {
        case .store:
            await store.put(key, kept, sealing: sealing)
            stored = true
        case .refresh:
            if await store.mayReplace(key, sealing: sealing, with: kept, task: task, now: now) {
                await store.put(key, kept, sealing: sealing)
                stored = true
            } else {
                metrics.countKeptEntry(task: exchange.taskName)
                logger.info("a no-cache answer differs from the stored one; the stored answer is kept for the other tenants", metadata: [
                    "deja.task": "\(exchange.taskName)", "deja.tenant": "\(exchange.caller.tenant)", "deja.key_id": "\(exchange.caller.id)",
                ])
            }
        case .skip:
            break
        }
        return Filled(answer: entry, kept: kept, stored: stored)
    }

    /// A stale-while-revalidate refresh: one model call whose answer replaces the expired entry.
    /// Recorded under ``refreshTenant``, billed to nobody: no client asked for it.
    func refresh(_ exchange: Exchange) async {
        var refresh = Exchange(
            task: exchange.task, caller: APIKeyInfo(id: "-", tenant: Self.refreshTenant, name: "refresh", createdAt: 0),
            body: exchange.body, cacheControl: CacheControl(), started: clock.now())
        refresh.key = exchange.key
        refresh.sealing = exchange.sealing
        refresh.producer = exchange.producer
        do {
            // The canonical form is built for the requester's scope, whose key this is.
            let forward = try await resolver.canonicalize(exchange).forwardBody
            _ = try await fill(refresh, forward: forward, outcome: .miss, billing: .nobody, store: .store)
        } catch {
            logger.debug("background refresh failed", metadata: ["deja.task": "\(exchange.taskName)", "error": "\(error)"])
        }
    }
}
