import DejaCache
import DejaCore
import DejaLedger
import Logging
import NIOCore
import NIOPosix

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
        /// Another flight stored a usable entry just before this one would have called the model.
        case found(CacheEntry)
        /// The model failed and an expired answer within the stale-if-error grace stood in.
        case stale(CacheEntry)
        /// Another gateway instance computed the answer while this one waited for it.
        case awaited(CacheEntry)
    }

    /// What the cache holds for a key, judged for one request.
    struct Lookup {
        /// An entry to answer with now (a fresh answer or a fresh rejection).
        var usable: CacheEntry?
        /// An expired answer that may still be served: while revalidating, or if the model fails.
        var expired: CacheEntry?
        /// The store could not be read: the answer will be labelled `bypass`.
        var storeFailed = false
    }

    /// Whether and how a fresh answer from the model is stored.
    enum StoreRule {
        /// Store it (a miss).
        case store
        /// The caller asked for the model's own answer (`no-cache`): store it, but never in place of a
        /// fresh, different answer that other tenants may rely on (unless the task allows that).
        case refresh
        /// Leave the cache alone (`no-store`).
        case skip
    }

    /// Tenant and key id under which background refreshes are recorded (billed 0).
    public static let refreshTenant = "deja:refresh"

    /// Model statuses that say the input itself is invalid, whoever sends it: remembered for the
    /// task's negative TTL. Others (408, 409, 429, …) depend on the moment or the caller and are not.
    static let rememberedRejections: Set<Int> = [400, 413, 415, 422]


    private let cache: any CacheStore
    private let fastCache: MemoryStore?
    let recorder: UsageRecorder
    private let upstream: UpstreamClient
    private let refresher: BackgroundRefresher?
    private let coordinator: RedisStore?
    /// Names this instance as the owner of cross-instance locks.
    private let instanceID = "deja-\(UInt64.random(in: 0...UInt64.max))"
    let clock: WallClock
    private let memo: KeyMemo
    private let flights = SingleFlight<CacheKey, FlightResult>()
    /// Decodes each distinct image once: a byte-identical repeat resolves by one SHA-256 pass.
    private let canonicalizer = Canonicalizer(contentDigestCache: InMemoryContentDigestCache(capacity: 100_000))
    /// Threads for the digest and canonical form of large bodies; `nil`: on the calling task.
    private let workers: CanonicalWorkers?
    /// Inputs the model failed on (5xx), not sent again for the task's failure TTL.
    private let failures = FailureMemory()
    let metrics: GatewayMetrics
    let logger: Logger

    /// - Parameters:
    ///   - cache: where answers are stored (e.g. memory L1 over SQLite).
    ///   - fastCache: the in-memory tier of `cache`, read synchronously on the hit path; `nil` if none.
    ///   - refresher: runs stale-while-revalidate refreshes; `nil` turns them off.
    public init(
        cache: any CacheStore,
        fastCache: MemoryStore?,
        recorder: UsageRecorder,
        upstream: UpstreamClient,
        refresher: BackgroundRefresher? = nil,
        coordinator: RedisStore? = nil,
        clock: WallClock = .system,
        memo: KeyMemo = KeyMemo(),
        workers: CanonicalWorkers? = nil,
        metrics: GatewayMetrics = GatewayMetrics(tasks: []),
        logger: Logger
    ) {
        self.workers = workers
        self.cache = cache
        self.fastCache = fastCache
        self.recorder = recorder
        self.upstream = upstream
        self.refresher = refresher
        self.coordinator = coordinator
        self.clock = clock
        self.memo = memo
        self.metrics = metrics
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
        let started = clock.now()
        let resolved: ResolvedKey
        do {
            resolved = try await resolveKey(task: task, caller: caller, body: body)
        } catch {
            return failure(task: task, caller: caller, key: nil, started: started, error: error)
        }
        guard let idempotencyKey else {
            return await answer(task: task, caller: caller, body: body, resolved: resolved, cacheControl: cacheControl,
                                idempotency: nil, started: started)
        }
        return await answerOnce(task: task, caller: caller, body: body, resolved: resolved, cacheControl: cacheControl,
                                idempotencyKey: idempotencyKey, started: started)
    }

    /// A request's content key, and its canonical form when it had to be built to find the key.
    struct ResolvedKey {
        var key: CacheKey
        var canonical: CanonicalRequest?
    }

    /// The content key: from the memo for a byte-identical repeat, from another instance's alias, or
    /// by canonicalising. Throws the client's error (naming the field) for a body that cannot be read.
    private func resolveKey(task: TaskRuntime, caller: APIKeyInfo, body: ByteBuffer) async throws(GatewayError) -> ResolvedKey {
        let name = task.policy.task, scope = task.memoScope(tenant: caller.tenant)
        let bodyDigest = await offServingThreads(bytes: body.readableBytes) { KeyMemo.bodyDigest(task: name, scope: scope, body: body) }
        if let remembered = memo.key(for: bodyDigest) {
            return ResolvedKey(key: remembered)
        }
        if let shared = await sharedAlias(task: task, bodyDigest: bodyDigest) {
            memo.remember(bodyDigest, resolvesTo: shared)  // another instance canonicalised this very body
            return ResolvedKey(key: shared)
        }
        do {
            let request = try await canonicalize(body: body, task: task, tenant: caller.tenant)
            memo.remember(bodyDigest, resolvesTo: request.key)
            shareAlias(task: task, bodyDigest: bodyDigest, key: request.key)
            return ResolvedKey(key: request.key, canonical: request)
        } catch {
            throw Self.badRequest(error)
        }
    }

    func answer(
        task: TaskRuntime, caller: APIKeyInfo, body: ByteBuffer, resolved: ResolvedKey, cacheControl: CacheControl,
        idempotency: IdempotencyLease?, started: Double
    ) async -> TaskResponse {
        let key = resolved.key, canonical = resolved.canonical

        // The cache, unless the request says not to use it.
        var expired: CacheEntry?
        var missOutcome = Outcome.miss
        if cacheControl.allowsCachedAnswer {
            let found = await lookup(key, task: task, cacheControl: cacheControl, now: started)
            if let entry = found.usable {
                return await answerFromCache(entry, outcome: entry.status == 200 ? .hit : .negative,
                                             task: task, caller: caller, key: key, started: started)
            }
            expired = found.expired
            if found.storeFailed { missOutcome = .bypass }
            if let stale = expired, started < stale.expiresAt + task.freshness.staleWhileRevalidate, let refresher {
                // Stale while revalidate: answer now, refresh once in the background.
                refresher.submit(key) { [self] in
                    await self.refresh(task: task, key: key, body: body, tenant: caller.tenant)
                }
                return await answerFromCache(stale, outcome: .hit, task: task, caller: caller, key: key, started: started)
            }
        }

        // The model. Canonicalise now if the key came from the memo: the forward body is needed.
        let forward: [UInt8]
        if let canonical {
            forward = canonical.forwardBody
        } else {
            do {
                forward = try await canonicalize(body: body, task: task, tenant: caller.tenant).forwardBody
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: Self.badRequest(error))
            }
        }

        if !cacheControl.allowsCachedAnswer {
            // no-cache refreshes the entry, no-store leaves the cache alone; neither joins a flight,
            // since both ask for the model's own answer.
            do {
                let entry = try await callModel(task: task, tenant: caller.tenant, keyID: caller.id, key: key, forward: forward,
                                                outcome: .bypass, billed: true, store: cacheControl.noStore ? .skip : .refresh,
                                                started: started, idempotency: idempotency)
                return answerFresh(entry, outcome: .bypass, key: key)
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: error)
            }
        }

        do {
            let graceEnd = (expired?.expiresAt ?? 0) + task.freshness.staleIfError
            let (result, leader) = try await flights.run(key) { () async throws -> FlightResult in
                // Double check: a flight that ended a moment ago may have stored this very answer.
                let now = clock.now()
                if let entry = await lookup(key, task: task, cacheControl: cacheControl, now: now).usable {
                    return .found(entry)
                }
                // Across instances: one of them computes, the others wait for its stored answer.
                var lockOwned = false
                if let coordinator {
                    var lockHeldElsewhere = false
                    do {
                        lockOwned = try await coordinator.tryLock(key: key, owner: instanceID, ttl: .seconds(task.lockSeconds))
                        lockHeldElsewhere = !lockOwned
                    } catch {
                        // The lock could not be taken (store down, or an error reply such as OOM or
                        // READONLY): nobody is known to compute this answer, so compute it here.
                    }
                    if lockHeldElsewhere, let entry = await awaitOtherInstance(key, coordinator: coordinator, task: task) {
                        return .awaited(entry)
                    }
                }
                defer {
                    if lockOwned, let coordinator {
                        let key = key, owner = instanceID
                        Task { _ = try? await coordinator.unlock(key: key, owner: owner) }
                    }
                }
                do {
                    return .answered(try await callModel(task: task, tenant: caller.tenant, keyID: caller.id, key: key,
                                                         forward: forward, outcome: missOutcome, billed: true, store: .store, started: started,
                                                         idempotency: idempotency))
                } catch let error as GatewayError where error.isModelFailure {
                    if let expired, clock.now() < graceEnd { return .stale(expired) }
                    throw error
                }
            }
            switch result {
            case .answered(let entry) where leader:
                return answerFresh(entry, outcome: missOutcome, key: key)
            case .awaited(let entry):
                return await answerFromCache(entry, outcome: .coalesced, task: task, caller: caller, key: key, started: started)
            case .answered(let entry):
                return await answerFromCache(entry, outcome: .coalesced, task: task, caller: caller, key: key, started: started)
            case .found(let entry):
                let outcome: Outcome = entry.status != 200 ? .negative : leader ? .hit : .coalesced
                return await answerFromCache(entry, outcome: outcome, task: task, caller: caller, key: key, started: started)
            case .stale(let entry):
                return await answerFromCache(entry, outcome: .stale, task: task, caller: caller, key: key, started: started)
            }
        } catch {
            return failure(task: task, caller: caller, key: key, started: started, error: error)
        }
    }

    // MARK: - Hits without suspending

    /// A fresh answer found in the memory tier for a byte-identical repeat; see ``cachedAnswer(task:caller:bodyDigest:cacheControl:)``.
    public struct MemoryHit: Sendable {
        fileprivate let key: CacheKey
        fileprivate let entry: CacheEntry
        fileprivate let started: Double
    }

    /// The memory tier's fresh answer to a body seen before (by its ``KeyMemo`` digest), or `nil` when
    /// answering needs anything that may suspend: a memo or memory miss, an expired entry, a priced hit
    /// (billed durably), a request that refuses cached answers. Has no side effects, so a caller may
    /// still turn the request away (e.g. rate limit) before ``answer(_:task:caller:)`` records it.
    ///
    /// This is how the server answers hits on the event loop, before a request enters Swift concurrency.
    /// The answer is the one ``handle(task:caller:body:cacheControl:idempotencyKey:)`` would give.
    public func cachedAnswer(task: TaskRuntime, caller: APIKeyInfo, bodyDigest: CacheKey, cacheControl: CacheControl) -> MemoryHit? {
        guard cacheControl.allowsCachedAnswer, let fastCache, let key = memo.key(for: bodyDigest),
              let entry = fastCache.entry(for: key)
        else { return nil }
        let now = clock.now()
        guard entry.isFresh(at: now) else { return nil }
        if let maxAge = cacheControl.maxAge, entry.age(at: now) > maxAge { return nil }
        if entry.status == 200, task.hitBill(metered: entry.meteredTokens) > 0 || !task.hitsPastBudget { return nil }
        return MemoryHit(key: key, entry: entry, started: now)
    }

    /// Records a hit found by ``cachedAnswer(task:caller:bodyDigest:cacheControl:)`` (queued, billed 0)
    /// and renders its response.
    public func answer(_ hit: MemoryHit, task: TaskRuntime, caller: APIKeyInfo) -> TaskResponse {
        let outcome: Outcome = hit.entry.status == 200 ? .hit : .negative
        let now = clock.now()
        recorder.enqueue(Self.cachedRecord(hit.entry, outcome: outcome, task: task, caller: caller, billed: 0, started: hit.started, now: now))
        return cachedResponse(hit.entry, outcome: outcome, task: task, key: hit.key, billed: 0, started: hit.started, now: now)
    }

    // MARK: - Canonical form

    /// The canonical form of a body. A large one is worked on by ``CanonicalWorkers``, so that however
    /// long it takes, the threads that answer hits and health checks are not the ones doing it.
    private func canonicalize(body: ByteBuffer, task: TaskRuntime, tenant: String) async throws(CanonicalError) -> CanonicalRequest {
        metrics.countCanonicalization(task: task.policy.task)
        let canonicalizer = self.canonicalizer, policy = task.policy
        guard let workers else { return try canonicalizer.canonicalize(body: body, policy: policy, scope: tenant) }
        return try await workers.run(bytes: body.readableBytes) { () throws(CanonicalError) in
            try canonicalizer.canonicalize(body: body, policy: policy, scope: tenant)
        }
    }

    /// `work` (which cannot fail) on ``CanonicalWorkers`` for a large body, else here.
    private func offServingThreads<T: Sendable>(bytes: Int, _ work: @escaping @Sendable () -> T) async -> T {
        guard let workers else { return work() }
        return await workers.run(bytes: bytes) { () throws(Never) in work() }
    }

    /// The name under which instances share what a raw body resolved to: the memo digest (task, scope,
    /// body) bound to everything else the key depends on (scheme, model name and version, config), so
    /// a new model version or configuration never reads an old alias.
    private static func aliasName(task: TaskRuntime, bodyDigest: CacheKey) -> CacheKey {
        let policy = task.policy
        return CacheKey(digest: KeyEncoding.digest(fields: [
            Array("deja-alias-v1".utf8), Array(CanonicalScheme.policyTag.utf8), Array(policy.modelName.utf8),
            Array(policy.modelVersion.utf8), Array(policy.configHash.utf8), bodyDigest.bytes,
        ]))
    }

    /// The content key another instance stored for this body, if the cache is shared and has one.
    private func sharedAlias(task: TaskRuntime, bodyDigest: CacheKey) async -> CacheKey? {
        guard let coordinator else { return nil }
        do {
            return try await coordinator.alias(Self.aliasName(task: task, bodyDigest: bodyDigest))
        } catch {
            return nil  // the store is down: canonicalise here
        }
    }

    /// Shares what a body resolved to, for as long as an answer to it may be kept; off the request path.
    private func shareAlias(task: TaskRuntime, bodyDigest: CacheKey, key: CacheKey) {
        guard let coordinator else { return }
        let name = Self.aliasName(task: task, bodyDigest: bodyDigest)
        let seconds = task.freshness.ttl * (1 + task.freshness.ttlJitter) + max(task.freshness.staleIfError, task.freshness.staleWhileRevalidate)
        let logger = self.logger
        Task {
            do {
                try await coordinator.setAlias(name, to: key, ttl: .milliseconds(Int64(seconds * 1000)))
            } catch {
                logger.debug("could not share a body alias", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The client's error for a request that cannot be canonicalised; the message names the field.
    static func badRequest(_ error: CanonicalError) -> GatewayError {
        switch error.code {
        case .invalidJSON, .invalidUTF8, .invalidEscape:
            return GatewayError(.badRequest, "the request body is not valid JSON: \(error.description)", status: 400)
        case .limitExceeded, .imageTooLarge:
            return GatewayError(.payloadTooLarge, "the request exceeds a limit: \(error.description)", status: 413)
        case .missingTenant:
            return GatewayError(.internalError, "the task's cache scope needs a tenant", status: 500)
        default:
            return GatewayError(.badRequest, "invalid request: \(error.description)", status: 400)
        }
    }

    // MARK: - Cache

    private func lookup(_ key: CacheKey, task: TaskRuntime, cacheControl: CacheControl, now: Double) async -> Lookup {
        var entry = fastCache?.entry(for: key)
        if entry == nil {
            do {
                entry = try await cache.get(key)
            } catch {
                logger.warning("cache read failed; answering from the model", metadata: ["error": "\(error)"])
                return Lookup(storeFailed: true)
            }
        }
        guard let entry else { return Lookup() }
        if entry.isFresh(at: now) {
            if let maxAge = cacheControl.maxAge, entry.age(at: now) > maxAge { return Lookup() }
            return Lookup(usable: entry)
        }
        return entry.status == 200 ? Lookup(expired: entry) : Lookup()
    }

    // MARK: - Model

    /// Calls the model through the task's limiter and breaker, meters and bills the answer durably,
    /// then stores it. A rejection (the model's 4xx) is remembered for the negative TTL and thrown.
    private func callModel(
        task: TaskRuntime, tenant: String, keyID: String, key: CacheKey, forward: [UInt8],
        outcome: Outcome, billed: Bool, store: StoreRule, started: Double, idempotency: IdempotencyLease? = nil
    ) async throws(GatewayError) -> CacheEntry {
        // An input the model just failed on is not sent again: its repeats cost nobody anything.
        let now = clock.now()
        if let failed = failures.failure(for: key, at: now) {
            let wait = max(1, Int((failed.until - now).rounded(.up)))
            throw GatewayError(
                .upstreamFailed,
                "the model server failed on this very input a moment ago (status \(failed.status)); it is not sent again for \(wait) s",
                status: 502, retryAfter: wait)
        }
        // A billed call first reserves its tokens against the caller's budgets: a request the budget
        // cannot cover never reaches the model. The reservation is settled with the billed record, or
        // given back if the call fails.
        var reservation: Reservation?
        if billed {
            reservation = try await reserve(task: task, tenant: tenant, keyID: keyID, forwardBytes: forward.count)
        }
        do {
            return try await callModelReserved(task: task, tenant: tenant, keyID: keyID, key: key, forward: forward,
                                               outcome: outcome, billed: billed, store: store, started: started,
                                               reservation: reservation, idempotency: idempotency)
        } catch {
            if let reservation { await recorder.release(reservation) }
            throw error
        }
    }

    private func reserve(task: TaskRuntime, tenant: String, keyID: String, forwardBytes: Int) async throws(GatewayError) -> Reservation {
        // The meter needs the answer; reserve what the smallest answer is worth (one page for OCR).
        let estimate = max(1, task.meter.tokens(answer: .object([]), inputBytes: forwardBytes))
        return try await reserve(tenant: tenant, keyID: keyID, tokens: estimate)
    }

    private func reserve(tenant: String, keyID: String, tokens estimate: Int64) async throws(GatewayError) -> Reservation {
        let now = clock.now()
        do {
            return try await recorder.reserve(tenant: tenant, keyID: keyID, tokens: estimate, at: now)
        } catch let error as LedgerError where error.code == .quotaExceeded {
            let retryAfter = error.quotaExceeded?.resetsAt.map { max(1, Int(($0 - now).rounded(.up))) }
            throw GatewayError(.quotaExceeded, error.message, retryAfter: retryAfter)
        } catch {
            throw GatewayError(.ledgerUnavailable, "the usage ledger is unavailable, so the request could not be billed; retry shortly", underlying: error)
        }
    }

    private func callModelReserved(
        task: TaskRuntime, tenant: String, keyID: String, key: CacheKey, forward: [UInt8],
        outcome: Outcome, billed: Bool, store: StoreRule, started: Double, reservation: Reservation?, idempotency: IdempotencyLease?
    ) async throws(GatewayError) -> CacheEntry {
        do {
            try await task.limiter.acquire(tenant: tenant)
        } catch {
            throw GatewayError(.overloaded, "too many requests are waiting for the model server; retry shortly", retryAfter: 1)
        }
        defer { task.limiter.release(tenant: tenant) }
        let reply = try await postToModel(task: task, forward: forward, tenant: tenant)
        let now = clock.now()
        guard reply.status == 200 else {
            let message = PaddleXProtocol.errorMessage(in: reply.body) ?? "no message"
            if (400..<500).contains(reply.status) {
                if store != .skip, task.freshness.negativeTTL > 0, Self.rememberedRejections.contains(reply.status),
                   let stored = PaddleXProtocol.storedError(reply.body) {
                    let rejection = CacheEntry(
                        body: stored, status: reply.status, modelVersion: task.policy.modelVersion, meteredTokens: 0,
                        upstreamSeconds: reply.seconds, createdAt: now, expiresAt: now + task.freshness.negativeTTL
                    )
                    await put(key, rejection)
                }
                // The model's own words, as a drop-in client expects them.
                throw GatewayError(.upstreamRejected, message, status: reply.status)
            }
            if task.freshness.failureTTL > 0 {
                failures.remember(key, status: reply.status, until: now + task.freshness.failureTTL)
            }
            throw GatewayError(.upstreamFailed, "the model server failed with status \(reply.status): \(message)", status: 502)
        }
        let answer = try PaddleXProtocol.readAnswer(reply.body)
        let tokens = task.meter.tokens(answer: answer.value, inputBytes: forward.count)
        let expiresAt = task.expiry(from: now, unit: Double.random(in: -1...1))
        let entry = CacheEntry(
            body: answer.stored,
            modelVersion: task.policy.modelVersion,
            meteredTokens: tokens,
            upstreamSeconds: reply.seconds,
            createdAt: now,
            expiresAt: expiresAt,
            retainUntil: expiresAt + max(task.freshness.staleIfError, task.freshness.staleWhileRevalidate)
        )
        // Billed before anyone sees the answer: if the ledger cannot take it, nobody gets it.
        let record = UsageRecord(
            time: now, tenant: tenant, keyID: keyID, task: task.policy.task, outcome: outcome,
            meteredTokens: tokens, billedTokens: billed ? tokens : 0, latencyMicros: Int64((now - started) * 1e6),
            status: 200, modelSeconds: reply.seconds
        )
        do {
            if let idempotency, billed {
                let stored = IdempotentResponse(
                    status: 200,
                    headers: ["x-deja-cache": outcome.rawValue, "x-deja-key": key.hex, "x-deja-tokens": String(tokens),
                              "x-deja-model-version": entry.modelVersion, "content-type": entry.contentType],
                    body: Array(buffer: entry.body), createdAt: now
                )
                try await recorder.recordIdempotent(stored, lease: idempotency, record: record,
                                                    settling: reservation.map { [$0] } ?? [])
            } else {
                try await recorder.recordNow(record, settling: reservation.map { [$0] } ?? [])
            }
        } catch let error as LedgerError where error.code == .idempotencyConflict {
            throw GatewayError(.idempotencyConflict, "another request with this Idempotency-Key was answered first; retry to get its answer")
        } catch let error as LedgerError where error.code == .idempotencyMismatch {
            throw Self.idempotencyMismatch
        } catch {
            logger.error("ledger write failed; answer withheld", metadata: ["error": "\(error)"])
            throw GatewayError(.ledgerUnavailable, "the usage ledger is unavailable, so the answer could not be billed; retry shortly", underlying: error)
        }
        metrics.record(task: task.policy.task, outcome: outcome, seconds: now - started, tokens: tokens, billed: record.billedTokens)
        switch store {
        case .store:
            await put(key, entry)
        case .refresh:
            if await mayReplace(key, with: entry, task: task, now: now) {
                await put(key, entry)
            } else {
                metrics.countKeptEntry(task: task.policy.task)
                logger.info("a no-cache answer differs from the stored one; the stored answer is kept for the other tenants", metadata: [
                    "deja.task": "\(task.policy.task)", "deja.tenant": "\(tenant)", "deja.key_id": "\(keyID)",
                ])
            }
        case .skip:
            break
        }
        return entry
    }

    /// Whether a `no-cache` answer may take the place of what the cache holds for `key`: always in a
    /// tenant's own scope or when the task allows it; in a shared scope only when nothing fresh is
    /// stored or the stored answer is the same. One tenant's refresh never changes the answer other
    /// tenants are served.
    private func mayReplace(_ key: CacheKey, with entry: CacheEntry, task: TaskRuntime, now: Double) async -> Bool {
        guard task.policy.scope == .shared, !task.noCacheReplacesShared else { return true }
        let current: CacheEntry?
        if let cached = fastCache?.entry(for: key) {
            current = cached
        } else {
            current = try? await cache.get(key)
        }
        guard let current, current.status == 200, current.isFresh(at: now) else { return true }
        return current.body == entry.body
    }

    /// Posts a request to one of the task's model servers: the first whose breaker lets it through,
    /// in balancing order. A server that cannot be reached is skipped for the next (the request never
    /// reached it, so trying another is safe); a timeout or a server error is the answer. All
    /// breakers open: 503 with the shortest wait.
    ///
    /// A timeout or a 5xx is charged to `tenant` in the breaker: failures from one tenant alone do not
    /// open it (see ``CircuitBreaker``). An unreachable server is nobody's doing and always counts.
    private func postToModel(task: TaskRuntime, forward: [UInt8], tenant: String) async throws(GatewayError) -> UpstreamReply {
        var shortestWait: Double?
        var unreachable: GatewayError?
        for server in task.upstreams.candidates() {
            if case .reject(let wait) = server.breaker.decide() {
                shortestWait = min(shortestWait ?? wait, wait)
                continue
            }
            let reply: UpstreamReply
            do {
                reply = try await upstream.postJSON(url: server.url, body: forward, timeout: task.timeout)
            } catch {
                if error.isConnectionFailure {
                    server.breaker.record(success: false)
                    unreachable = error
                    continue
                }
                server.breaker.record(success: false, source: tenant)
                throw error
            }
            server.breaker.record(success: reply.status < 500, source: tenant)
            return reply
        }
        if let unreachable { throw unreachable }
        let seconds = max(1, Int((shortestWait ?? 1).rounded(.up)))
        throw GatewayError(
            .upstreamUnavailable,
            "the model server is failing, so Deja stopped sending it requests for a while (circuit open); retry after \(seconds) s",
            retryAfter: seconds
        )
    }

    /// Waits for another instance's answer to `key`; the fresh entry (also put in L1), or `nil` when
    /// none came in time — then this instance computes it itself.
    private func awaitOtherInstance(_ key: CacheKey, coordinator: RedisStore, task: TaskRuntime) async -> CacheEntry? {
        let entry: CacheEntry?
        do {
            entry = try await coordinator.waitForEntry(key: key, timeout: .seconds(task.lockSeconds))
        } catch {
            return nil
        }
        guard let entry, entry.isFresh(at: clock.now()) else { return nil }
        fastCache?.setEntry(entry, for: key)
        return entry
    }

    private func put(_ key: CacheKey, _ entry: CacheEntry) async {
        do {
            try await cache.put(key, entry)
        } catch {
            logger.warning("cache write failed; answer served but not stored", metadata: ["error": "\(error)"])
        }
    }

    /// A stale-while-revalidate refresh: one model call whose answer replaces the expired entry.
    /// Recorded under ``refreshTenant``, billed to nobody: no client asked for it.
    private func refresh(task: TaskRuntime, key: CacheKey, body: ByteBuffer, tenant: String) async {
        do {
            let request = try await canonicalize(body: body, task: task, tenant: tenant)
            _ = try await callModel(task: task, tenant: Self.refreshTenant, keyID: "-", key: key, forward: request.forwardBody,
                                    outcome: .miss, billed: false, store: .store, started: clock.now())
        } catch {
            logger.debug("background refresh failed", metadata: ["deja.task": "\(task.policy.task)", "error": "\(error)"])
        }
    }

    // MARK: - Responses

    private func answerFresh(_ entry: CacheEntry, outcome: Outcome, key: CacheKey) -> TaskResponse {
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
        let billed = entry.status == 200 ? task.hitBill(metered: entry.meteredTokens) : 0
        let record = Self.cachedRecord(entry, outcome: outcome, task: task, caller: caller, billed: billed, started: started, now: now)
        // With hitsPastBudget off, a hit needs room in the caller's budgets too: it holds what it bills
        // (at least one token, so an exhausted budget refuses it) and settles with its record.
        var reservation: Reservation?
        if !task.hitsPastBudget, entry.status == 200, caller.tenant != Self.refreshTenant {
            do {
                reservation = try await reserve(tenant: caller.tenant, keyID: caller.id, tokens: max(1, billed))
            } catch {
                return failure(task: task, caller: caller, key: key, started: started, error: error)
            }
        }
        if billed > 0 {
            // A priced hit is a billed answer: in the ledger before the client sees it.
            do {
                try await recorder.recordNow(record, settling: reservation.map { [$0] } ?? [])
            } catch {
                if let reservation { await recorder.release(reservation) }
                return failure(task: task, caller: caller, key: key, started: started, error: GatewayError(
                    .ledgerUnavailable, "the usage ledger is unavailable, so the answer could not be billed; retry shortly",
                    underlying: error))
            }
        } else {
            if let reservation { await recorder.release(reservation) }
            recorder.enqueue(record)
        }
        return cachedResponse(entry, outcome: outcome, task: task, key: key, billed: billed, started: started, now: now)
    }

    /// The usage record of an answer served from a stored entry.
    static func cachedRecord(
        _ entry: CacheEntry, outcome: Outcome, task: TaskRuntime, caller: APIKeyInfo, billed: Int64, started: Double, now: Double
    ) -> UsageRecord {
        UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: outcome,
            meteredTokens: entry.meteredTokens, billedTokens: billed, latencyMicros: Int64((now - started) * 1e6),
            status: entry.status, modelSeconds: entry.upstreamSeconds
        )
    }

    /// Counts an answer served from a stored entry and renders it behind a fresh `logId`.
    private func cachedResponse(
        _ entry: CacheEntry, outcome: Outcome, task: TaskRuntime, key: CacheKey, billed: Int64, started: Double, now: Double
    ) -> TaskResponse {
        metrics.record(task: task.policy.task, outcome: outcome, seconds: now - started, tokens: entry.meteredTokens, billed: billed)
        return TaskResponse(
            status: entry.status, outcome: outcome, key: key, tokens: entry.meteredTokens, billed: billed,
            modelVersion: entry.modelVersion, age: entry.age(at: now), contentType: entry.contentType,
            body: PaddleXProtocol.render(stored: entry.body, logId: PaddleXProtocol.newLogId())
        )
    }

    func failure(task: TaskRuntime, caller: APIKeyInfo, key: CacheKey?, started: Double, error: any Error) -> TaskResponse {
        let gatewayError = error as? GatewayError
            ?? GatewayError(.internalError, "an unexpected error occurred", underlying: error)
        let now = clock.now()
        recorder.enqueue(UsageRecord(
            time: now, tenant: caller.tenant, keyID: caller.id, task: task.policy.task, outcome: .error,
            meteredTokens: 0, billedTokens: 0, latencyMicros: Int64((now - started) * 1e6),
            status: gatewayError.status, modelSeconds: 0
        ))
        metrics.record(task: task.policy.task, outcome: .error, seconds: now - started, tokens: 0, billed: 0)
        // Who caused it, so an operator can tell one tenant's poison from a sick model.
        let metadata: Logger.Metadata = [
            "deja.task": "\(task.policy.task)", "deja.tenant": "\(caller.tenant)", "deja.key_id": "\(caller.id)",
            "deja.status": "\(gatewayError.status)", "error": "\(gatewayError)",
        ]
        if gatewayError.status >= 500 {
            logger.warning("task request failed", metadata: metadata)
        } else if gatewayError.code == .upstreamRejected {
            logger.info("the model rejected the input", metadata: metadata)
        }
        return TaskResponse(
            status: gatewayError.status, outcome: nil, key: key, retryAfter: gatewayError.retryAfter,
            body: [PaddleXProtocol.renderError(status: gatewayError.status, message: gatewayError.message, logId: PaddleXProtocol.newLogId())]
        )
    }
}
