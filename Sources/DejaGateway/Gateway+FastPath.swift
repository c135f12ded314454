import DejaCore
import DejaLedger
import NIOCore

/// Hits without suspending: how the server answers repeats on the event loop, before a request enters
/// Swift concurrency. The decision is ``CachedAnswerPolicy``'s, as on the router's path; only what it
/// says costs nothing and holds nothing (``CachedAnswerPolicy/Serving/isImmediate``) is answered here.
extension Gateway {
    /// A fresh answer found in the memory tier for a byte-identical repeat; see ``cachedAnswer(task:caller:bodyDigest:cacheControl:)``.
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
        let now = clock.now()
        // In a tenant's own scope every entry is its own; in a shared one, whose it is decides.
        let foreign = task.policy.scope == .shared && entry.producer != CacheEntry.producerTag(tenant: caller.tenant)
        guard case .serve(let serving) = task.cachedAnswers.decide(entry, cacheControl: cacheControl, now: now, foreign: foreign),
              serving.isImmediate
        else { return nil }
        return MemoryHit(key: remembered.key, entry: entry, serving: serving, echo: remembered.echo, started: now)
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
