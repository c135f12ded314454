import DejaCache
import DejaCore
import DejaLedger
import Logging
import NIOCore

/// The request path: canonical key, cache lookup, single flight to the model, billing, storing.
///
/// `handle` never throws: every failure becomes a response in the task protocol's error envelope, and
/// a failed or rejected request bills nothing. A billed record is committed to the ledger before the
/// response is returned.
public final class Gateway: Sendable {
    /// How a flight to the model ended, shared by its leader and followers.
    enum FlightResult: Sendable {
        /// The model answered; the entry was billed to the leader and stored (unless `no-store`).
        case answered(CacheEntry)
        /// Another flight stored a fresh entry just before this one would have called the model.
        case found(CacheEntry)
    }

    private let cache: any CacheStore
    private let fastCache: MemoryStore?
    private let recorder: UsageRecorder
    private let upstream: UpstreamClient
    private let clock: WallClock
    private let memo: KeyMemo
    private let flights = SingleFlight<CacheKey, FlightResult>()
    private let canonicalizer = Canonicalizer()
    private let metrics: GatewayMetrics
    private let logger: Logger

    /// - Parameters:
    ///   - cache: where answers are stored (e.g. memory L1 over SQLite).
    ///   - fastCache: the in-memory tier of `cache`, read synchronously on the hit path; `nil` if none.
    public init(
        cache: any CacheStore,
        fastCache: MemoryStore?,
        recorder: UsageRecorder,
        upstream: UpstreamClient,
        clock: WallClock = .system,
        memo: KeyMemo = KeyMemo(),
        metrics: GatewayMetrics = GatewayMetrics(tasks: []),
        logger: Logger
    ) {
        self.cache = cache
        self.fastCache = fastCache
        self.recorder = recorder
        self.upstream = upstream
        self.clock = clock
        self.memo = memo
        self.metrics = metrics
        self.logger = logger
    }

    /// Answers one task request from `caller`.
    public func handle(task: TaskRuntime, caller: APIKeyInfo, body: ByteBuffer, cacheControl: CacheControl) async -> TaskResponse {
        let started = clock.now()
        let scope = task.policy.scope == .tenant ? "tenant:\(caller.tenant)" : "shared"

        // 1. The content key: from the memo for a byte-identical repeat, else by canonicalising.
        let bodyDigest = KeyMemo.bodyDigest(task: task.policy.task, scope: scope, body: body)
        var canonical: CanonicalRequest?
        let key: CacheKey
        if let remembered = memo.key(for: bodyDigest) {
            key = remembered
        } else {
            do {
                let request = try canonicalizer.canonicalize(body: body, policy: task.policy, scope: caller.tenant)
                canonical = request
                key = request.key
                memo.remember(bodyDigest, resolvesTo: key)
            } catch {
                return failure(task: task, caller: caller, key: nil, started: started, error: Self.badRequest(error))
            }
        }

        // 2. The cache, unless the request says not to use it.
        if cacheControl.allowsCachedAnswer, let entry = await lookup(key, cacheControl: cacheControl, now: started) {
            return await answerFromCache(entry, outcome: .hit, task: task, caller: caller, key: key, started: started)
        }

        // 3. The model. Canonicalise now if the key came from the memo: the forward body is needed.
        let forward: [UInt8]
        if let canonical {
            forward = canonical.forwardBody
        } else {
            do {
                forward = try canonicalizer.canonicalize(body: body, policy: task.policy, scope: caller.tenant).forwardBody
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: Self.badRequest(error))
            }
        }

        if !cacheControl.allowsCachedAnswer {
            // no-cache refreshes the entry, no-store leaves the cache alone; neither joins a flight,
            // since both ask for the model's own answer.
            do {
                let entry = try await callModel(task: task, caller: caller, key: key, forward: forward,
                                                outcome: .bypass, store: !cacheControl.noStore, started: started)
                return answerFresh(entry, outcome: .bypass, key: key, task: task)
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: error)
            }
        }

        do {
            let (result, leader) = try await flights.run(key) {
                // Double check: a flight that ended a moment ago may have stored this very answer.
                if let entry = await lookup(key, cacheControl: cacheControl, now: clock.now()) {
                    return .found(entry)
                }
                return .answered(try await callModel(task: task, caller: caller, key: key, forward: forward,
                                                     outcome: .miss, store: true, started: started))
            }
            switch result {
            case .answered(let entry) where leader:
                return answerFresh(entry, outcome: .miss, key: key, task: task)
            case .answered(let entry):
                return await answerFromCache(entry, outcome: .coalesced, task: task, caller: caller, key: key, started: started)
            case .found(let entry):
                return await answerFromCache(entry, outcome: leader ? .hit : .coalesced, task: task, caller: caller, key: key, started: started)
            }
        } catch {
            return failure(task: task, caller: caller, key: key, started: started, error: error)
        }
    }

    /// The client's error for a request that cannot be canonicalised; the message names the field.
    static func badRequest(_ error: CanonicalError) -> GatewayError {
        switch error.code {
        case .invalidJSON, .invalidUTF8, .invalidEscape:
            return GatewayError(.badRequest, "the request body is not valid JSON: \(error.description)", status: 400)
        case .limitExceeded:
            return GatewayError(.payloadTooLarge, "the request exceeds a limit: \(error.description)", status: 413)
        case .missingTenant:
            return GatewayError(.internalError, "the task's cache scope needs a tenant", status: 500)
        default:
            return GatewayError(.badRequest, "invalid request: \(error.description)", status: 400)
        }
    }

    // MARK: - Cache

    private func lookup(_ key: CacheKey, cacheControl: CacheControl, now: Double) async -> CacheEntry? {
        var entry = fastCache?.entry(for: key)
        if entry == nil {
            do {
                entry = try await cache.get(key)
            } catch {
                logger.warning("cache read failed; answering from the model", metadata: ["error": "\(error)"])
                return nil
            }
        }
        guard let entry, entry.status == 200, entry.isFresh(at: now) else { return nil }
        if let maxAge = cacheControl.maxAge, entry.age(at: now) > maxAge { return nil }
        return entry
    }

    // MARK: - Model

    /// Calls the model, meters and bills the answer durably, then stores it.
    private func callModel(
        task: TaskRuntime, caller: APIKeyInfo, key: CacheKey, forward: [UInt8],
        outcome: Outcome, store: Bool, started: Double
    ) async throws(GatewayError) -> CacheEntry {
        let reply = try await upstream.postJSON(url: task.upstreamURL, body: forward, timeout: task.timeout)
        guard reply.status == 200 else {
            let message = PaddleXProtocol.errorMessage(in: reply.body) ?? "no message"
            if (400..<500).contains(reply.status) {
                throw GatewayError(.upstreamRejected, "the model rejected the input: \(message)", status: reply.status)
            }
            throw GatewayError(.upstreamFailed, "the model server failed with status \(reply.status): \(message)", status: 502)
        }
        let answer = try PaddleXProtocol.readAnswer(reply.body)
        let tokens = task.meter.tokens(answer: answer.value, inputBytes: forward.count)
        let now = clock.now()
        let entry = CacheEntry(
            body: answer.stored,
            modelVersion: task.policy.modelVersion,
            meteredTokens: tokens,
            upstreamSeconds: reply.seconds,
            createdAt: now,
            expiresAt: now + task.ttl
        )
        // Billed before anyone sees the answer: if the ledger cannot take it, nobody gets it.
        let record = UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: outcome,
            meteredTokens: tokens, billedTokens: tokens, latencyMicros: Int64((now - started) * 1e6),
            status: 200, modelSeconds: reply.seconds
        )
        do {
            try await recorder.recordNow(record)
        } catch {
            logger.error("ledger write failed; answer withheld", metadata: ["error": "\(error)"])
            throw GatewayError(.ledgerUnavailable, "the usage ledger is unavailable, so the answer could not be billed; retry shortly", underlying: error)
        }
        metrics.record(task: task.policy.task, outcome: outcome, seconds: now - started, tokens: tokens, billed: tokens)
        if store {
            do {
                try await cache.put(key, entry)
            } catch {
                logger.warning("cache write failed; answer served but not stored", metadata: ["error": "\(error)"])
            }
        }
        return entry
    }

    // MARK: - Responses

    private func answerFresh(_ entry: CacheEntry, outcome: Outcome, key: CacheKey, task: TaskRuntime) -> TaskResponse {
        TaskResponse(
            status: 200, outcome: outcome, key: key, tokens: entry.meteredTokens, billed: entry.meteredTokens,
            modelVersion: entry.modelVersion, contentType: entry.contentType,
            body: PaddleXProtocol.render(stored: entry.body, logId: PaddleXProtocol.newLogId())
        )
    }

    private func answerFromCache(
        _ entry: CacheEntry, outcome: Outcome, task: TaskRuntime, caller: APIKeyInfo, key: CacheKey, started: Double
    ) async -> TaskResponse {
        let now = clock.now()
        let billed = task.hitBill(metered: entry.meteredTokens)
        let record = UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: outcome,
            meteredTokens: entry.meteredTokens, billedTokens: billed, latencyMicros: Int64((now - started) * 1e6),
            status: 200, modelSeconds: entry.upstreamSeconds
        )
        if billed > 0 {
            // A priced hit is a billed answer: in the ledger before the client sees it.
            do {
                try await recorder.recordNow(record)
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: GatewayError(
                    .ledgerUnavailable, "the usage ledger is unavailable, so the answer could not be billed; retry shortly",
                    underlying: error))
            }
        } else {
            recorder.enqueue(record)
        }
        metrics.record(task: task.policy.task, outcome: outcome, seconds: now - started, tokens: entry.meteredTokens, billed: billed)
        return TaskResponse(
            status: 200, outcome: outcome, key: key, tokens: entry.meteredTokens, billed: billed,
            modelVersion: entry.modelVersion, age: entry.age(at: now), contentType: entry.contentType,
            body: PaddleXProtocol.render(stored: entry.body, logId: PaddleXProtocol.newLogId())
        )
    }

    private func failure(task: TaskRuntime, caller: APIKeyInfo, key: CacheKey?, started: Double, error: any Error) -> TaskResponse {
        let gatewayError = error as? GatewayError
            ?? GatewayError(.internalError, "an unexpected error occurred", underlying: error)
        let now = clock.now()
        recorder.enqueue(UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: .error,
            meteredTokens: 0, billedTokens: 0, latencyMicros: Int64((now - started) * 1e6),
            status: gatewayError.status, modelSeconds: 0
        ))
        metrics.record(task: task.policy.task, outcome: .error, seconds: now - started, tokens: 0, billed: 0)
        if gatewayError.status >= 500 {
            logger.warning("task request failed", metadata: ["deja.task": "\(task.policy.task)", "error": "\(gatewayError)"])
        }
        return TaskResponse(
            status: gatewayError.status, outcome: nil, key: key,
            body: [PaddleXProtocol.renderError(status: gatewayError.status, message: gatewayError.message, logId: PaddleXProtocol.newLogId())]
        )
    }
}
