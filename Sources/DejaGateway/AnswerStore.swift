import DejaCache
import DejaCore
import Logging
import NIOCore
import Tracing

/// The gateway's view of stored answers: the memory tier read first, the cache behind it, and — with
/// a shared store — the cross-instance locks and waits of one computation per key.
struct AnswerStore: Sendable {
    let cache: any CacheStore
    /// The in-memory tier of `cache`, read without suspending; `nil` if none.
    let fastCache: MemoryStore?
    /// The shared store, for locks and aliases across instances; `nil` when embedded.
    let coordinator: RedisStore?
    /// Names this instance as the owner of cross-instance locks.
    let instanceID = "deja-\(UInt64.random(in: 0...UInt64.max))"
    let clock: WallClock
    /// Each lookup is a `deja.lookup` span when tracing is on.
    let tracer: RequestTracer
    let logger: Logger

    /// What a lookup found.
    enum Found {
        case entry(CacheEntry)
        case nothing
        /// The store could not be read: the answer will be labelled `bypass`.
        case storeFailed
    }

    /// The entry stored for `key`, fresh or not, opened with `sealing` when it comes from a sealed tier.
    func find(_ key: CacheKey, sealing: SealingDigest) async -> Found {
        guard tracer.isOn else { return await lookUp(key, sealing: sealing).found }
        return await tracer.span(SpanName.lookup) { span async -> Found in
            let (found, layer) = await lookUp(key, sealing: sealing)
            span?.updateAttributes { attributes in
                attributes[TraceAttribute.keyPrefix] = key.tracePrefix
                switch found {
                case .entry(let entry):
                    attributes[TraceAttribute.lookupResult] = entry.isFresh(at: clock.now()) ? "hit" : "stale"
                    attributes[TraceAttribute.cacheLayer] = layer
                    attributes[TraceAttribute.modelVersion] = entry.modelVersion
                case .nothing:
                    attributes[TraceAttribute.lookupResult] = "miss"
                case .storeFailed:
                    attributes[TraceAttribute.lookupResult] = "error"
                }
            }
            if case .storeFailed = found { span?.setStatus(SpanStatus(code: .error, message: "cache read failed")) }
            return found
        }
    }

    /// The shared store's entry for `key`, asked without suspending (``DejaCache/RedisStore/getNow(_:sealing:)``)
    /// on `eventLoop`, and kept in the memory tier as ``find(_:sealing:)`` keeps it; `nil` when it cannot be asked so.
    func findStoredNow(_ key: CacheKey, sealing: SealingDigest, on eventLoop: any EventLoop) -> EventLoopFuture<CacheEntry?>? {
        guard let coordinator, let reply = coordinator.getNow(key, sealing: sealing, on: eventLoop) else { return nil }
        guard let fastCache else { return reply }
        return reply.map { entry in
            if let entry { fastCache.setEntry(entry, for: key) }
            return entry
        }
    }

    /// The double check a flight makes before computing: has a flight that ended a moment ago stored
    /// this answer? Embedded with a memory tier, every answer this instance stores is put in that tier,
    /// so it alone is read (no trip to L2 on every miss); with a shared store, or without a memory tier,
    /// the whole lookup is made again.
    func recheck(_ key: CacheKey, sealing: SealingDigest) async -> Found {
        if coordinator == nil, let fastCache {
            return fastCache.entry(for: key).map(Found.entry) ?? .nothing
        }
        return await find(key, sealing: sealing)
    }

    /// What `find` found, and in which tier: `l1` (memory) or `l2` (behind it).
    private func lookUp(_ key: CacheKey, sealing: SealingDigest) async -> (found: Found, layer: String) {
        if let entry = fastCache?.entry(for: key) { return (.entry(entry), "l1") }
        do {
            return (try await cache.get(key, sealing: sealing).map(Found.entry) ?? .nothing, "l2")
        } catch {
            logger.warning("cache read failed; answering from the model", metadata: ["error": "\(error)"])
            return (.storeFailed, "l2")
        }
    }

    func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async {
        do {
            try await cache.put(key, entry, sealing: sealing)
        } catch {
            logger.warning("cache write failed; answer served but not stored", metadata: ["error": "\(error)"])
        }
    }

    /// Whether a `no-cache` answer may take the place of what is stored for `key`: always in a
    /// tenant's own scope or when the task allows it; in a shared scope only when nothing fresh is
    /// stored or the stored answer is the same. One tenant's refresh never changes the answer other
    /// tenants are served.
    func mayReplace(_ key: CacheKey, sealing: SealingDigest, with entry: CacheEntry, task: TaskRuntime, now: Double) async -> Bool {
        guard task.policy.scope == .shared, !task.noCacheReplacesShared else { return true }
        guard case .entry(let current) = await find(key, sealing: sealing), current.status == 200, current.isFresh(at: now) else { return true }
        return current.body == entry.body
    }

    /// Who computes `key` across instances.
    enum Turn {
        /// This instance; `owned` when it holds the lock (to release after).
        case compute(owned: Bool)
        /// Another instance computed it meanwhile.
        case answered(CacheEntry)
    }

    /// Takes the cross-instance lock on `key`, or waits for the instance holding it. A lock that cannot
    /// be taken (store down, an error reply) means nobody is known to compute it: compute it here. A
    /// holder that stored nothing (a skipped answer, a failed call) frees the lock: one waiter takes it
    /// next, up to three rounds, then each computes on its own.
    func turn(_ key: CacheKey, sealing: SealingDigest, task: TaskRuntime) async -> Turn {
        guard let coordinator else { return .compute(owned: false) }
        for _ in 0..<3 {
            let owned: Bool
            do {
                owned = try await coordinator.tryLock(key: key, owner: instanceID, ttl: .seconds(task.lockSeconds))
            } catch {
                return .compute(owned: false)
            }
            if owned { return .compute(owned: true) }
            let started = clock.now()
            guard let waited = try? await coordinator.waitForEntry(key: key, sealing: sealing, timeout: .seconds(task.lockSeconds)) else {
                // Released without an entry: take the next turn; none came in time: compute it here.
                if clock.now() - started < Double(task.lockSeconds) { continue }
                return .compute(owned: false)
            }
            guard waited.isFresh(at: clock.now()) else { return .compute(owned: false) }
            fastCache?.setEntry(waited, for: key)
            return .answered(waited)
        }
        return .compute(owned: false)
    }

    /// Releases a lock taken by ``turn(_:task:)``, off the request path.
    func unlock(_ key: CacheKey) {
        guard let coordinator else { return }
        let owner = instanceID
        Task { _ = try? await coordinator.unlock(key: key, owner: owner) }
    }
}
