import DejaCore
import DejaLedger
import Logging

/// Turns what the gateway decided into the client's answer, counted in the metrics: a fresh answer, a
/// stored one, or an error in the task protocol's envelope (recorded, billed nothing).
struct Responder: Sendable {
    let biller: Biller
    let metrics: GatewayMetrics
    let clock: WallClock
    let logger: Logger

    /// An answer the model just gave this request, billed as metered.
    func fresh(_ entry: CacheEntry, outcome: Outcome, exchange: Exchange) -> TaskResponse {
        TaskResponse(
            status: 200, outcome: outcome, key: exchange.key, tokens: entry.meteredTokens, billed: entry.meteredTokens,
            modelVersion: entry.modelVersion, contentType: entry.contentType,
            body: exchange.task.taskProtocol.render(stored: entry.body, echo: exchange.echo)
        )
    }

    /// An answer served from a stored entry, billed and held as `serving` says.
    func cached(_ entry: CacheEntry, serving: CachedAnswerPolicy.Serving, exchange: Exchange) async -> TaskResponse {
        let now = clock.now()
        let record = Self.record(entry, serving: serving, exchange: exchange, now: now)
        do {
            try await biller.bill(record, serving: serving, exchange: exchange)
        } catch {
            return failure(exchange, error: error)
        }
        return rendered(entry, serving: serving, exchange: exchange, now: now)
    }

    /// An answer served from a stored entry that ``CachedAnswerPolicy/Serving/isImmediate`` says costs
    /// nothing and holds nothing: recorded in the queue, answered without suspending.
    func cachedNow(_ entry: CacheEntry, serving: CachedAnswerPolicy.Serving, exchange: Exchange) -> TaskResponse {
        precondition(serving.isImmediate, "a billed or budget-bound answer must go through cached(_:serving:exchange:)")
        let now = clock.now()
        biller.enqueue(Self.record(entry, serving: serving, exchange: exchange, now: now))
        return rendered(entry, serving: serving, exchange: exchange, now: now)
    }

    /// The usage record of an answer served from a stored entry.
    static func record(_ entry: CacheEntry, serving: CachedAnswerPolicy.Serving, exchange: Exchange, now: Double) -> UsageRecord {
        UsageRecord(
            time: now, tenant: exchange.caller.tenant, keyID: exchange.caller.id, task: exchange.taskName, outcome: serving.outcome,
            meteredTokens: entry.meteredTokens, billedTokens: serving.billed, latencyMicros: Int64((now - exchange.started) * 1e6),
            status: entry.status, modelSeconds: entry.upstreamSeconds, contentKey: exchange.key
        )
    }

    private func rendered(_ entry: CacheEntry, serving: CachedAnswerPolicy.Serving, exchange: Exchange, now: Double) -> TaskResponse {
        metrics.record(task: exchange.taskName, outcome: serving.outcome, seconds: now - exchange.started,
                       tokens: entry.meteredTokens, billed: serving.billed)
        var response = TaskResponse(
            status: entry.status, outcome: serving.outcome, key: exchange.key, tokens: entry.meteredTokens, billed: serving.billed,
            modelVersion: entry.modelVersion, age: serving.foreign ? nil : entry.age(at: now), contentType: entry.contentType,
            body: exchange.task.taskProtocol.render(stored: entry.body, echo: exchange.echo)
        )
        response.redacted = entry.redactions
        return response
    }

    /// A failed request: recorded and counted as an error, billed nothing, logged with who caused it.
    func failure(_ exchange: Exchange, error: any Error) -> TaskResponse {
        let gatewayError = error as? GatewayError
            ?? GatewayError(.internalError, "an unexpected error occurred", underlying: error)
        let now = clock.now()
        biller.enqueue(UsageRecord(
            time: now, tenant: exchange.caller.tenant, keyID: exchange.caller.id, task: exchange.taskName, outcome: .error,
            meteredTokens: 0, billedTokens: 0, latencyMicros: Int64((now - exchange.started) * 1e6),
            status: gatewayError.status, modelSeconds: 0, contentKey: exchange.key
        ))
        metrics.record(task: exchange.taskName, outcome: .error, seconds: now - exchange.started, tokens: 0, billed: 0)
        // Who caused it, so an operator can tell one tenant's poison from a sick model.
        let metadata: Logger.Metadata = [
            "deja.task": "\(exchange.taskName)", "deja.tenant": "\(exchange.caller.tenant)", "deja.key_id": "\(exchange.caller.id)",
            "deja.status": "\(gatewayError.status)", "error": "\(gatewayError)",
        ]
        if gatewayError.status >= 500 {
            logger.warning("task request failed", metadata: metadata)
        } else if gatewayError.code == .upstreamRejected {
            logger.info("the model rejected the input", metadata: metadata)
        }
        var response = TaskResponse(
            status: gatewayError.status, outcome: nil, key: exchange.key, retryAfter: gatewayError.retryAfter,
            body: [exchange.task.taskProtocol.renderError(status: gatewayError.status, message: gatewayError.message, echo: exchange.echo)]
        )
        response.detail = gatewayError.detail
        return response
    }
}
