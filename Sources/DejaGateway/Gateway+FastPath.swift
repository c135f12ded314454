import DejaCore
import DejaLedger
import NIOCore

/// Hits without suspending: how the server answers repeats on the event loop, before a request enters
/// Swift concurrency. The decision is ``CachedAnswerPolicy``'s, as on the router's path; only what it
/// says costs nothing and holds nothing (``CachedAnswerPolicy/Serving/isImmediate``) is answered here.
extension Gateway {
    /// A fresh answer found for a byte-identical repeat, in the memory tier or the shared store; see
    /// ``cachedAnswer(task:caller:bodyDigest:cacheControl:)`` and ``storedAnswer(task:caller:bodyDigest:cacheControl:)``.
    public struct MemoryHit: Sendable {
        fileprivate let key: CacheKey
        fileprivate let entry: CacheEntry
        fileprivate let serving: CachedAnswerPolicy.Serving
        fileprivate let echo: String?
        fileprivate let started: Double
    }

    /// The memory tier's answer to a body seen before (by its ``KeyMemo`` digest), or `nil` when
    /// answering needs anything that may suspend: a memo or memory miss, or an entry the policy does not
    /// serve at once (expired, priced, budget-bound, refused by the request's `Cache-Control`). Has no
    /// side effects, so a caller may still turn the request away (e.g. rate limit) before
    /// ``answer(_:task:caller:)`` records it.
    ///
    /// The answer is the one ``handle(task:caller:body:cacheControl:idempotencyKey:)`` would give.
    public func cachedAnswer(task: TaskRuntime, caller: APIKeyInfo, bodyDigest: CacheKey, cacheControl: CacheControl) -> MemoryHit? {
        guard cacheControl.allowsCachedAnswer, let fastCache = store.fastCache, let remembered = resolver.memo.remembered(bodyDigest),
              let entry = fastCache.entry(for: remembered.key)
        else { return nil }
        return immediateHit(entry, remembered: remembered, task: task, caller: caller, cacheControl: cacheControl)
    }

    /// Whether ``storedAnswer(task:caller:bodyDigest:cacheControl:)`` may find an answer the memory tier
    /// did not have: the body is remembered and a shared store (Redis) stands behind the memory tier.
    /// Synchronous; an embedded store's repeats are left to the router, whose lookup reads it anyway.
    public func mayHaveStoredAnswer(bodyDigest: CacheKey, cacheControl: CacheControl) -> Bool {
        cacheControl.allowsCachedAnswer && store.coordinator != nil && resolver.memo.remembered(bodyDigest) != nil
    }

    /// The shared store's answer to a body seen before, read with one lookup (no canonical form, no
    /// router): what ``cachedAnswer(task:caller:bodyDigest:cacheControl:)`` is for the memory tier, for
    /// an entry another instance stored or the memory tier let go. `nil` when answering needs the
    /// router (not found, the store failed, or the policy does not serve it at once).
    public func storedAnswer(task: TaskRuntime, caller: APIKeyInfo, bodyDigest: CacheKey, cacheControl: CacheControl) async -> MemoryHit? {
        let started = clock.now()
        guard cacheControl.allowsCachedAnswer, let remembered = resolver.memo.remembered(bodyDigest),
              case .entry(let entry) = await store.find(remembered.key, sealing: remembered.sealing)
        else { return nil }
        return immediateHit(entry, remembered: remembered, task: task, caller: caller, cacheControl: cacheControl, started: started)
    }

    /// ``storedAnswer(task:caller:bodyDigest:cacheControl:)`` without suspending: one GET written from the
    /// calling event loop, the hit decided where its reply arrives. `nil` when the store cannot be asked
    /// so (no open connection, no cluster slot map yet, the circuit open); the future's `nil` sends the
    /// request to the router. The reply is opened, and the future completes, on `eventLoop`.
    public func storedAnswerNow(
        task: TaskRuntime, caller: APIKeyInfo, bodyDigest: CacheKey, cacheControl: CacheControl, on eventLoop: any EventLoop
    ) -> EventLoopFuture<MemoryHit?>? {
        let started = clock.now()
        guard cacheControl.allowsCachedAnswer, let remembered = resolver.memo.remembered(bodyDigest),
              let reply = store.findStoredNow(remembered.key, sealing: remembered.sealing, on: eventLoop)
        else { return nil }
        return reply.map { [self] entry in
            entry.flatMap { immediateHit($0, remembered: remembered, task: task, caller: caller, cacheControl: cacheControl, started: started) }
        }
    }

    /// `entry` as a hit answered at once, if the policy serves it so.
    private func immediateHit(
        _ entry: CacheEntry, remembered: KeyMemo.Remembered, task: TaskRuntime, caller: APIKeyInfo, cacheControl: CacheControl,
        started: Double? = nil
    ) -> MemoryHit? {
        let now = clock.now()
        // In a tenant's own scope every entry is its own; in a shared one, whose it is decides.
        let foreign = task.policy.scope == .shared && entry.producer != CacheEntry.producerTag(tenant: caller.tenant)
        guard case .serve(let serving) = task.cachedAnswers.decide(entry, cacheControl: cacheControl, now: now, foreign: foreign),
              serving.isImmediate
        else { return nil }
        return MemoryHit(key: remembered.key, entry: entry, serving: serving, echo: remembered.echo, started: started ?? now)
    }

    /// Records a hit found by ``cachedAnswer(task:caller:bodyDigest:cacheControl:)`` (queued, billed 0)
    /// and renders its response.
    public func answer(_ hit: MemoryHit, task: TaskRuntime, caller: APIKeyInfo) -> TaskResponse {
        var exchange = Exchange(task: task, caller: caller, body: ByteBuffer(), cacheControl: CacheControl(), started: hit.started, producer: 0)
        exchange.key = hit.key
        exchange.echo = hit.echo
        return responder.cachedNow(hit.entry, serving: hit.serving, exchange: exchange)
    }
}
