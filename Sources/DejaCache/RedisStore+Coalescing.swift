import DejaCore
import DejaRedis
import NIOCore

/// Coalescing across instances: a lock per key, so one instance computes a miss, and a notification
/// when its entry is stored, so the others wait for it instead of calling the model.
extension RedisStore {
    /// Takes the lock for `key` for `owner` (`SET <prefix>l:<hex> owner NX PX ttl`); `true` when taken.
    ///
    /// The lock expires by itself after `ttl`, so a crashed owner never blocks others for longer.
    public func tryLock(key: CacheKey, owner: String, ttl: Duration) async throws(CacheStoreError) -> Bool {
        let milliseconds = Self.milliseconds(ttl)
        let lockKey = lockKey(key)
        return try await call("could not take a lock in Redis") {
            try await self.redis.execute(SET(lockKey, value: ByteBuffer(string: owner), condition: .ifNotExists, milliseconds: milliseconds))
        }
    }

    /// Releases the lock for `key` if `owner` still holds it (an atomic compare-and-delete script); returns
    /// whether it did. A release is announced on the key's channel, so instances waiting for an entry
    /// that was not stored (a skipped answer, a failed model call) stop waiting at once.
    @discardableResult
    public func unlock(key: CacheKey, owner: String) async throws(CacheStoreError) -> Bool {
        let keys = [lockKey(key)]
        let arguments: [RESPArgument] = [.string(owner)]
        do {
            let reply = try await Self.unlockScript.run(on: redis, keys: keys, arguments: arguments)
            guard try reply.integer() == 1 else { return false }
        } catch {
            throw .storage("could not release a lock in Redis", error)
        }
        if configuration.publishOnPut {
            _ = try? await redis.execute(PUBLISH(channel: channel(key), message: ByteBuffer(string: "0")))
        }
        return true
    }

    /// Whether some instance holds the lock for `key`.
    func lockHeld(_ key: CacheKey) async throws(CacheStoreError) -> Bool {
        let lockKey = lockKey(key)
        return try await call("could not read a lock in Redis") { try await self.redis.execute(GET(lockKey)) } != nil
    }

    /// Waits until an entry for `key` is stored (by any instance) or `timeout` passes; returns it, or `nil`.
    /// Also `nil`, at once, when nobody holds the key's lock any more and no entry is stored: the instance
    /// that computed it stored nothing (a skipped answer, a failed call), so there is nothing to wait for.
    ///
    /// Listens on the key's channel and also polls every ``Configuration/pollInterval``, so a lost message or
    /// a pub/sub outage only delays the answer. Throws only when reading the entry fails.
    public func waitForEntry(key: CacheKey, sealing: SealingDigest, timeout: Duration) async throws(CacheStoreError) -> CacheEntry? {
        // While the breaker is open, do not wait on a SUBSCRIBE either: the polling reads fail fast.
        let subscription = breaker.state == .closed ? try? await redis.subscribe(to: [channel(key)]) : nil
        defer { subscription?.cancel() }
        if let entry = try await get(key, sealing: sealing) { return entry }
        guard try await lockHeld(key) else { return nil }
        let pollInterval = configuration.pollInterval
        let deadline = ContinuousClock.now + timeout
        enum Outcome: Sendable { case entry(CacheEntry?), notified, quiet }
        do {
            return try await withThrowingTaskGroup(of: Outcome.self) { group in
                if let subscription {
                    group.addTask {
                        for try await _ in subscription { return .notified }
                        return .quiet
                    }
                }
                group.addTask {
                    while ContinuousClock.now < deadline {
                        try await Task.sleep(for: min(pollInterval, deadline - ContinuousClock.now))
                        if let entry = try await self.get(key, sealing: sealing) { return .entry(entry) }
                        if try await !self.lockHeld(key) { return .entry(try await self.get(key, sealing: sealing)) }
                    }
                    return .entry(nil)
                }
                defer { group.cancelAll() }
                while let outcome = try await group.next() {
                    switch outcome {
                    case .entry(let entry): return entry
                    case .notified:
                        if let entry = try await self.get(key, sealing: sealing) { return entry }
                        if try await !self.lockHeld(key) { return nil }
                    case .quiet: continue
                    }
                }
                return nil
            }
        } catch let error as CacheStoreError {
            throw error
        } catch {
            return nil  // cancelled
        }
    }
}
