import DejaCache
import DejaCore
import DejaLedger
import Logging
import NIOCore
import NIOPosix

/// The request path: a short sequence over collaborators with one job each.
///
/// 1. ``KeyResolver``: the request's content key (memo, shared alias or canonical form).
/// 2. `Idempotency-Key` binding (``answerOnce``), when the request has one.
/// 3. ``AnswerStore`` and ``CachedAnswerPolicy``: a stored entry served, served while refreshed, kept
///    as a stand-in, or ignored.
/// 4. ``SingleFlight`` and the store's cross-instance turn: one model call per key.
/// 5. ``ModelCaller``, ``Biller`` (in ``fill(_:forward:outcome:billing:store:idempotency:)``): the
///    model's answer, metered, billed durably, stored.
/// 6. ``Responder``: the answer or the error, in the task protocol's envelope.
///
/// `handle` never throws: every failure becomes a response in the task protocol's error envelope, and
/// a failed or rejected request bills nothing. A billed record is committed to the ledger before the
/// response is returned.
public final class Gateway: Sendable {
    /// How a flight to the model ended, shared by its leader and followers.
    enum FlightResult: Sendable {
        /// The model answered; the entry was billed to the leader and stored (unless `no-store` or
        /// its sensitive data says not to); the others get the kept copy.
        case answered(Filled)
        /// Another flight stored a usable entry just before this one would have called the model.
        case found(CacheEntry)
        /// The model failed and an expired answer within the stale-if-error grace stood in.
        case stale(CacheEntry)
        /// Another gateway instance computed the answer while this one waited for it.
        case awaited(CacheEntry)
        /// Every page of the document had a stored answer (the page memo): put together, stored under
        /// the document's key, never sent to the model.
        case assembled(CacheEntry, pages: Int)
    }

    /// Tenant and key id under which background refreshes are recorded (billed 0).
    public static let refreshTenant = "deja:refresh"

    let resolver: KeyResolver
    let store: AnswerStore
    let model: ModelCaller
    let biller: Biller
    let responder: Responder
    let recorder: UsageRecorder
    private let refresher: BackgroundRefresher?
    private let flights = SingleFlight<CacheKey, FlightResult>()
    let clock: WallClock
    let metrics: GatewayMetrics
    let tracer: RequestTracer
    let logger: Logger

    /// - Parameters:
    ///   - cache: where answers are stored (e.g. memory L1 over SQLite).
    ///   - fastCache: the in-memory tier of `cache`, read synchronously on the hit path; `nil` if none.
    ///   - refresher: runs stale-while-revalidate refreshes; `nil` turns them off.
    ///   - coordinator: the shared store, for one computation per key across instances.
    ///   - sealer: seals the answers kept for idempotent requests (the cache's own tiers seal theirs).
    ///   - tracer: where the spans of the request path go; off by default.
    public init(
        cache: any CacheStore,
        fastCache: MemoryStore?,
        sealer: EntrySealer,
        recorder: UsageRecorder,
        upstream: UpstreamClient,
        refresher: BackgroundRefresher? = nil,
        coordinator: RedisStore? = nil,
        clock: WallClock = .system,
        memo: KeyMemo = KeyMemo(),
        workers: CanonicalWorkers? = nil,
        metrics: GatewayMetrics = GatewayMetrics(tasks: []),
        tracer: RequestTracer = .off,
        logger: Logger
    ) {
        let canonicalizer = Canonicalizer(contentDigestCache: InMemoryContentDigestCache(capacity: 100_000))
        resolver = KeyResolver(memo: memo, canonicalizer: canonicalizer, workers: workers, coordinator: coordinator,
                               metrics: metrics, logger: logger)
        store = AnswerStore(cache: cache, fastCache: fastCache, coordinator: coordinator, clock: clock, tracer: tracer, logger: logger)
        model = ModelCaller(upstream: upstream, failures: FailureMemory(), clock: clock, tracer: tracer)
        biller = Biller(recorder: recorder, sealer: sealer, clock: clock, tracer: tracer, logger: logger)
        responder = Responder(biller: biller, metrics: metrics, clock: clock, logger: logger)
        self.recorder = recorder
        self.refresher = refresher
        self.clock = clock
        self.metrics = metrics
        self.tracer = tracer
        self.logger = logger
    }

    /// Answers one task request from `caller`.
    ///
    /// With an `idempotencyKey`, the key is bound to this request (its content key): a billed answer is
    /// stored under it in the same ledger transaction as its billing record, a retry gets that answer
    /// back billed nothing more, a retry arriving while the first is still answered waits for it, and
    /// the same key with a different request is refused (422).
    public func handle(
        task: TaskRuntime, caller: APIKeyInfo, body: ByteBuffer, cacheControl: CacheControl, idempotencyKey: String? = nil
    ) async -> TaskResponse {
        var exchange = Exchange(task: task, caller: caller, body: body, cacheControl: cacheControl, started: clock.now())
        do {
            try await resolveKey(&exchange)
        } catch {
            return responder.failure(exchange, error: error)
        }
        guard let idempotencyKey else { return await answer(exchange, idempotency: nil) }
        return await answerOnce(exchange, idempotencyKey: idempotencyKey)
    }

    /// Resolves the request's content key, in a `deja.key` span when tracing is on.
    private func resolveKey(_ exchange: inout Exchange) async throws(GatewayError) {
        guard tracer.isOn else { return try await resolver.resolve(&exchange) }
        try await tracer.span(SpanName.key) { span async throws(GatewayError) in
            span?.attributes[TraceAttribute.task] = exchange.taskName
            try await resolver.resolve(&exchange)
            span?.attributes[TraceAttribute.keyPrefix] = exchange.key?.tracePrefix
            span?.attributes[TraceAttribute.keySource] = exchange.canonical == nil ? "memo" : "canonical"
        }
    }

    /// Answers a request whose key is resolved: from the cache when the policy allows, else from the model.
    func answer(_ exchange: Exchange, idempotency: IdempotencyLease?) async -> TaskResponse {
        let key = exchange.resolvedKey, cacheControl = exchange.cacheControl
        var fallback: CacheEntry?
        var missOutcome = Outcome.miss
        if cacheControl.allowsCachedAnswer {
            switch await store.find(key, sealing: exchange.resolvedSealing) {
            case .storeFailed:
                missOutcome = .bypass
            case .nothing:
                break
            case .entry(let entry):
                switch exchange.task.cachedAnswers.decide(entry, cacheControl: cacheControl, now: exchange.started, foreign: exchange.isForeign(entry)) {
                case .serve(let serving):
                    return await serve(entry, serving: serving, exchange: exchange)
                case .serveAndRefresh(let serving):
                    guard let refresher else {
                        fallback = entry  // no refresher: the model is asked now, the entry stands by
                        break
                    }
                    // Stale while revalidate: answer now, refresh once in the background.
                    refresher.submit(key) { [self] in await self.refresh(exchange) }
                    return await serve(entry, serving: serving, exchange: exchange)
                case .fallback:
                    fallback = entry
                case .unusable:
                    break
                }
            }
        }

        let forward: [UInt8]
        do {
            forward = try await resolver.forwardBody(exchange)
        } catch {
            return responder.failure(exchange, error: error)
        }
        guard cacheControl.allowsCachedAnswer else {
            // no-cache refreshes the entry, no-store leaves the cache alone; neither joins a flight,
            // since both ask for the model's own answer.
            do {
                let filled = try await fill(exchange, forward: forward, outcome: .bypass, billing: .caller,
                                            store: cacheControl.noStore ? .skip : .refresh, idempotency: idempotency)
                return responder.fresh(filled.answer, outcome: .bypass, exchange: exchange)
            } catch {
                return responder.failure(exchange, error: error)
            }
        }
        return await fly(exchange, forward: forward, outcome: missOutcome, fallback: fallback, idempotency: idempotency)
    }

    /// A stored entry served as `serving` says. Another tenant's answer (``CachedAnswerPolicy/Serving/foreign``)
    /// is served only where the caller's budgets would let a miss through: the miss's own hold is taken
    /// and given back first, so a caller with no budget gets exactly the miss's refusal.
    func serve(_ entry: CacheEntry, serving: CachedAnswerPolicy.Serving, exchange: Exchange) async -> TaskResponse {
        if serving.foreign {
            do {
                let forward = try await resolver.forwardBody(exchange)
                let smallest = exchange.task.taskProtocol.minimumMeasurement(forwardBody: forward)
                let hold = try await biller.reserve(exchange, tokens: max(1, exchange.task.meter.tokens(for: smallest)))
                await biller.release(hold)
            } catch {
                return responder.failure(exchange, error: error)
            }
        }
        return await responder.cached(entry, serving: serving, exchange: exchange)
    }

    /// One model call per key, however many requests for it arrive together, here or on other instances.
    private func fly(
        _ exchange: Exchange, forward: [UInt8], outcome: Outcome, fallback: CacheEntry?, idempotency: IdempotencyLease?
    ) async -> TaskResponse {
        let key = exchange.resolvedKey, task = exchange.task
        let graceEnd = (fallback?.expiresAt ?? 0) + task.freshness.staleIfError
        do {
            let (result, leader) = try await flights.run(key) { () async throws -> FlightResult in
                // Double check: a flight that ended a moment ago may have stored this very answer.
                if case .entry(let entry) = await store.recheck(key, sealing: exchange.resolvedSealing),
                   case .serve = task.cachedAnswers.decide(entry, cacheControl: exchange.cacheControl, now: clock.now(), foreign: exchange.isForeign(entry)) {
                    return .found(entry)
                }
                // Across instances: one of them computes, the others wait for its stored answer.
                let turn = await store.turn(key, sealing: exchange.resolvedSealing, task: task)
                if case .answered(let entry) = turn { return .awaited(entry) }
                defer { if case .compute(owned: true) = turn { store.unlock(key) } }
                // A document whose pages were all answered before, in other documents or as images.
                var pages = await documentPages(exchange, forward: forward)
                if let known = pages {
                    var entry = await answerFromPages(known.keys, exchange: exchange, forward: forward)
                    if entry == nil, let pixels = await pixelPages(known, exchange: exchange, forward: forward) {
                        pages?.pixels = pixels
                        entry = await answerFromPages(pixels, exchange: exchange, forward: forward)
                    }
                    if let entry {
                        await store.put(key, entry, sealing: exchange.resolvedSealing)
                        metrics.countPages(task: exchange.taskName, event: .served, known.count)
                        return .assembled(entry, pages: known.count)
                    }
                }
                do {
                    let filled = try await fill(exchange, forward: forward, outcome: outcome, billing: .caller, store: .store,
                                                idempotency: idempotency)
                    if let pages, filled.stored { await storePages(pages, of: filled.kept, exchange: exchange) }
                    return .answered(filled)
                } catch let error as GatewayError where error.isModelFailure {
                    if let fallback, clock.now() < graceEnd { return .stale(fallback) }
                    throw error
                }
            }
            let policy = task.cachedAnswers
            switch result {
            case .answered(let filled) where leader:
                shadow(exchange, stable: filled.answer, forward: forward)
                return responder.fresh(filled.answer, outcome: outcome, exchange: exchange)
            case .answered(let filled):
                let entry = filled.kept
                return await serve(entry, serving: policy.serving(entry, as: .coalesced, foreign: exchange.isForeign(entry)), exchange: exchange)
            case .awaited(let entry):
                return await serve(entry, serving: policy.serving(entry, as: .coalesced, foreign: exchange.isForeign(entry)), exchange: exchange)
            case .found(let entry):
                let outcome: Outcome = leader ? .hit : .coalesced
                return await serve(entry, serving: policy.serving(entry, as: outcome, foreign: exchange.isForeign(entry)), exchange: exchange)
            case .stale(let entry):
                return await serve(entry, serving: policy.serving(entry, as: .stale, foreign: exchange.isForeign(entry)), exchange: exchange)
            case .assembled(let entry, let pages):
                let outcome: Outcome = leader ? .hit : .coalesced
                var response = await serve(entry, serving: policy.serving(entry, as: outcome, foreign: exchange.isForeign(entry)), exchange: exchange)
                if response.status == 200 { response.pagesFromMemo = pages }
                return response
            }
        } catch {
            return responder.failure(exchange, error: error)
        }
    }
}
