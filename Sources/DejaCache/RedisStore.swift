import CompressNIO
import DejaCore
import DejaRedis
import Logging
import NIOCore

/// A ``CacheStore`` on Redis or Redis Cluster, shared by every gateway instance.
///
/// Entries live under `<prefix>e:<key hex>`, listed by task and model version in an index for purges and
/// capacity reports (`RedisStore+Purge.swift`), sealed by an ``EntrySealer`` (so a dump of Redis reveals no
/// answer without its request): inside the seal, a flag byte (0 plain, 1 deflate) and the compact binary
/// codec. Entries are written with `SET … PX` for `retainUntil − now` plus a little random jitter so entries written together do not
/// expire together. The store also carries what instances need to coalesce identical misses: a lock per key
/// (``tryLock(key:owner:ttl:)``, ``unlock(key:owner:)``) and a notification when an entry is stored
/// (``waitForEntry(key:sealing:timeout:)``). Every method may be called concurrently; failures throw
/// ``CacheStoreError`` with code `storageFailed` and the ``DejaRedis/RedisError`` as underlying error.
public final class RedisStore: CacheStore {
    /// Key layout, TTL jitter, compression and waiting.
    public struct Configuration: Sendable {
        /// Prefix of every key and channel; entries are `<prefix>e:`, locks `<prefix>l:`, channels `<prefix>c:`.
        public var keyPrefix: String
        /// Relative TTL jitter: each TTL is scaled by a random factor in `1 ± ttlJitter`. Default 0.05.
        public var ttlJitter: Double
        /// Encoded entries larger than this many bytes are deflated (kept only when that saves at least 1/64 of
        /// them: a few bytes saved are not worth inflating on every read). Default 8 KiB.
        public var compressionThreshold: Int
        /// Largest inflated entry accepted when reading. Default 256 MiB.
        public var maxDecompressedBytes: Int
        /// Polling interval of ``waitForEntry(key:sealing:timeout:)`` when pub/sub is missing or slow.
        public var pollInterval: Duration
        /// Whether ``put(_:_:sealing:)`` publishes on the key's channel so waiters wake at once.
        public var publishOnPut: Bool

        public init(
            keyPrefix: String = "deja:",
            ttlJitter: Double = 0.05,
            compressionThreshold: Int = 8 * 1024,
            maxDecompressedBytes: Int = 256 * 1024 * 1024,
            pollInterval: Duration = .milliseconds(100),
            publishOnPut: Bool = true
        ) {
            self.keyPrefix = keyPrefix
            self.ttlJitter = min(max(ttlJitter, 0), 0.5)
            self.compressionThreshold = compressionThreshold
            self.maxDecompressedBytes = maxDecompressedBytes
            self.pollInterval = pollInterval
            self.publishOnPut = publishOnPut
        }
    }

    /// Redis memory figures, summed over every primary.
    public struct Capacity: Sendable, Hashable {
        /// `used_memory`, bytes.
        public var usedMemory: Int64
        /// `maxmemory`, bytes; 0 means unlimited (on any primary).
        public var maxMemory: Int64
        /// `evicted_keys` since the servers started.
        public var evictedKeys: Int64
    }

    /// The Redis client or cluster client the store runs on.
    public let redis: any RedisCommandExecutor
    /// The configuration the store was made with.
    public let configuration: Configuration
    /// Stops requests from waiting on a Redis that keeps failing (lost connections, timeouts): while
    /// open, every call fails at once, so the gateway answers from the model (`bypass`) without delay;
    /// after its open period one call probes Redis again. Redis's own error replies do not count.
    public let breaker: CircuitBreaker
    /// Seals every entry and alias value.
    public let sealer: EntrySealer
    let clock: WallClock
    private let logger: Logger

    static let flagPlain: UInt8 = 0
    static let flagDeflate: UInt8 = 1

    /// The compare-and-delete used by ``unlock(key:owner:)``.
    static let unlockScript = RedisScript(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end")

    /// Creates a store on `redis` (a ``DejaRedis/RedisClient`` or ``DejaRedis/RedisClusterClient``), reading time from `clock`.
    public init(
        redis: any RedisCommandExecutor,
        sealer: EntrySealer,
        configuration: Configuration = .init(),
        clock: WallClock = .system,
        breaker: CircuitBreaker? = nil,
        logger: Logger = Logger(label: "deja.cache.redis")
    ) {
        self.redis = redis
        self.sealer = sealer
        self.configuration = configuration
        self.breaker = breaker ?? CircuitBreaker(failureThreshold: 3, openSeconds: 2, clock: clock)
        self.clock = clock
        self.logger = logger
    }

    // MARK: Keys

    func entryKey(_ key: CacheKey) -> RedisKey { RedisKey(configuration.keyPrefix + "e:" + key.hex) }
    func lockKey(_ key: CacheKey) -> RedisKey { RedisKey(configuration.keyPrefix + "l:" + key.hex) }
    func channel(_ key: CacheKey) -> String { configuration.keyPrefix + "c:" + key.hex }
    func aliasKey(_ name: CacheKey) -> RedisKey { RedisKey(configuration.keyPrefix + "a:" + name.hex) }

    // MARK: Aliases

    /// The content key and sealing digest an alias names (e.g. what a raw request body resolved to on
    /// some instance), or `nil` when none is stored or it does not open with `sealing` (the digest of the
    /// raw body, which only a holder of that body has).
    public func alias(_ name: CacheKey, sealing: SealingDigest) async throws(CacheStoreError) -> (key: CacheKey, sealing: SealingDigest)? {
        let aliasKey = aliasKey(name)
        let stored = try await call("could not read an alias from Redis") { try await self.redis.execute(GET(aliasKey)) }
        guard let stored, case .success(let value) = sealer.open(stored, name: name, sealing: sealing, purpose: .alias),
              value.readableBytes == 64,
              let key = CacheKey(bytes: value.readableBytesView.prefix(32)),
              let digest = CacheKey(bytes: value.readableBytesView.suffix(32))
        else { return nil }
        return (key, SealingDigest(digest))
    }

    /// Stores, sealed with `sealing`, that `name` resolves to `key` and `target` (its sealing digest), for `ttl`.
    public func setAlias(
        _ name: CacheKey, sealing: SealingDigest, to key: CacheKey, target: SealingDigest, ttl: Duration
    ) async throws(CacheStoreError) {
        let milliseconds = Self.milliseconds(ttl)
        let aliasKey = aliasKey(name)
        let value = sealer.seal(ByteBuffer(bytes: key.bytes + target.bytes), name: name, sealing: sealing, purpose: .alias)
        _ = try await call("could not write an alias to Redis") {
            try await self.redis.execute(SET(aliasKey, value: value, milliseconds: milliseconds))
        }
    }

    // MARK: CacheStore

    /// The entry under `key` while retained; `nil` when absent, past `retainUntil`, or sealed with a
    /// secret no longer configured (a miss, never an error).
    public func get(_ key: CacheKey, sealing: SealingDigest) async throws(CacheStoreError) -> CacheEntry? {
        let entryKey = entryKey(key)
        let stored = try await call("could not read an entry from Redis") { try await self.redis.execute(GET(entryKey)) }
        guard let stored else { return nil }
        let opened: ByteBuffer
        switch sealer.open(stored, name: key, sealing: sealing, purpose: .entry) {
        case .success(let value):
            opened = value
        case .failure(let failure):
            logger.debug("a Redis entry does not open; treated as a miss", metadata: ["deja.cache.seal": "\(failure)"])
            return nil
        }
        let entry = try decode(opened)
        return clock.now() < entry.retainUntil ? entry : nil
    }

    /// ``get(_:sealing:)`` without suspending, for the event loop: the reply is opened and decoded on
    /// `eventLoop`, where the future completes (the GET goes out on a connection of that loop when the
    /// pool has one, so nothing changes threads). `nil` when it cannot be asked at once (no open
    /// connection, no slot map yet, the circuit open): use ``get(_:sealing:)``. An error reply, a failure
    /// or an entry that does not open or decode completes it with `nil`, and the caller asks again the
    /// usual way.
    public func getNow(_ key: CacheKey, sealing: SealingDigest, on eventLoop: any EventLoop) -> EventLoopFuture<CacheEntry?>? {
        guard case .allow = breaker.decide() else { return nil }
        guard let reply = redis.executeNow(GET(entryKey(key)), on: eventLoop) else {
            breaker.abandon()  // nothing was asked
            return nil
        }
        return reply.hop(to: eventLoop).map { [self] stored -> CacheEntry? in
            breaker.record(success: true)
            guard let stored, case .success(let opened) = sealer.open(stored, name: key, sealing: sealing, purpose: .entry),
                  let entry = try? decode(opened)
            else { return nil }
            return clock.now() < entry.retainUntil ? entry : nil
        }.recover { [breaker] error in
            breaker.record(success: !Self.isOutage(error))
            return nil
        }
    }

    /// Stores `entry` with `SET … PX` for its remaining retention (jittered), lists it in its task's version
    /// index in the same round trip (when its task is known), then announces it on the key's channel.
    public func put(_ key: CacheKey, _ entry: CacheEntry, sealing: SealingDigest) async throws(CacheStoreError) {
        let remaining = entry.retainUntil - clock.now()
        guard remaining > 0 else { return }
        let jitter = configuration.ttlJitter > 0 ? Double.random(in: -configuration.ttlJitter...configuration.ttlJitter) : 0
        let milliseconds = max(1, Int64((remaining * (1 + jitter) * 1000).rounded()))
        let value = sealer.seal(try encode(entry), name: key, sealing: sealing, purpose: .entry)
        let entryKey = entryKey(key)
        _ = try await call("could not write an entry to Redis") {
            // The index update goes out with the SET, not after it: one round trip for both.
            async let indexed: Void = entry.task.isEmpty ? () : self.index(key, entry)
            _ = try await self.redis.execute(SET(entryKey, value: value, milliseconds: milliseconds))
            try await indexed
        }
        if configuration.publishOnPut {
            do { _ = try await redis.execute(PUBLISH(channel: channel(key), message: ByteBuffer(string: "1"))) } catch {
                logger.debug("could not announce a stored entry", metadata: ["deja.redis.error": "\(error)"])
            }
        }
    }

    /// Removes the entry under `key`.
    public func remove(_ key: CacheKey) async throws(CacheStoreError) {
        do { _ = try await redis.execute(DEL([entryKey(key)])) } catch {
            throw .storage("could not remove an entry from Redis", error)
        }
    }

    /// Removes every entry (keys under `<prefix>e:`) from every primary with `SCAN` and `DEL`.
    public func removeAll() async throws(CacheStoreError) {
        do {
            for primary in try await redis.primaries() {
                var cursor = "0"
                repeat {
                    let page = try await primary.execute(SCAN(cursor: cursor, pattern: configuration.keyPrefix + "e:*", count: 1000))
                    cursor = page.cursor
                    var bySlot: [HashSlot: [RedisKey]] = [:]
                    for key in page.keys { bySlot[key.hashSlot, default: []].append(key) }
                    for keys in bySlot.values { _ = try await primary.execute(DEL(keys)) }
                } while cursor != "0"
            }
        } catch {
            throw .storage("could not remove every entry from Redis", error)
        }
    }

    // MARK: Capacity

    /// `used_memory` and `maxmemory` (`INFO memory`) and `evicted_keys` (`INFO stats`), summed over primaries.
    public func capacity() async throws(CacheStoreError) -> Capacity {
        try await call("could not read Redis memory figures") { try await self.readCapacity() }
    }

    private func readCapacity() async throws -> Capacity {
        var capacity = Capacity(usedMemory: 0, maxMemory: 0, evictedKeys: 0)
        var unlimited = false
        for primary in try await redis.primaries() {
            let memory = INFO.fields(try await primary.execute(INFO("memory")))
            let stats = INFO.fields(try await primary.execute(INFO("stats")))
            capacity.usedMemory += Int64(memory["used_memory"] ?? "") ?? 0
            let max = Int64(memory["maxmemory"] ?? "") ?? 0
            if max == 0 { unlimited = true }
            capacity.maxMemory += max
            capacity.evictedKeys += Int64(stats["evicted_keys"] ?? "") ?? 0
        }
        if unlimited { capacity.maxMemory = 0 }
        return capacity
    }

    /// A TTL for `PX`: whole milliseconds, at least 1.
    static func milliseconds(_ duration: Duration) -> Int64 {
        max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    // MARK: Breaker

    /// Runs one Redis call through the breaker.
    func call<T: Sendable>(_ message: String, _ body: () async throws -> T) async throws(CacheStoreError) -> T {
        if case .reject = breaker.decide() {
            throw .storage(message, RedisError(
                code: .unavailable, message: "Redis keeps failing, so calls stop waiting on it for a while (circuit open)"))
        }
        do {
            let value = try await body()
            breaker.record(success: true)
            return value
        } catch {
            if error is CancellationError || (error as? RedisError)?.code == .cancelled {
                breaker.abandon()  // says nothing about Redis
            } else {
                breaker.record(success: !Self.isOutage(error))
            }
            throw .storage(message, error)
        }
    }

    /// Whether `error` says Redis is unreachable or too slow, as opposed to an error reply.
    static func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? RedisError else { return true }
        return [.connectionFailed, .connectionClosed, .timeout, .unavailable, .clusterUnavailable].contains(error.code)
    }

    // MARK: Values

    /// The stored form of `entry`: flag byte, then the codec bytes, deflated when large and worth it.
    func encode(_ entry: CacheEntry) throws(CacheStoreError) -> ByteBuffer {
        var encoded = entry.encoded()
        if encoded.readableBytes > configuration.compressionThreshold {
            var input = encoded
            if let compressed = try? input.compress(with: .deflate()), compressed.readableBytes + 1 < encoded.readableBytes - encoded.readableBytes / 64 {
                var value = ByteBuffer()
                value.reserveCapacity(compressed.readableBytes + 1)
                value.writeInteger(Self.flagDeflate)
                value.writeImmutableBuffer(compressed)
                return value
            }
        }
        var value = ByteBuffer()
        value.reserveCapacity(encoded.readableBytes + 1)
        value.writeInteger(Self.flagPlain)
        value.writeBuffer(&encoded)
        return value
    }

    /// Reads a value written by ``encode(_:)``.
    func decode(_ value: ByteBuffer) throws(CacheStoreError) -> CacheEntry {
        var value = value
        switch value.readInteger(as: UInt8.self) {
        case Self.flagPlain:
            return try CacheEntry(decoding: value)
        case Self.flagDeflate:
            let inflated: ByteBuffer
            do { inflated = try value.decompress(with: .deflate(), maxSize: configuration.maxDecompressedBytes) } catch {
                throw CacheStoreError(code: .corruptEntry, message: "a compressed Redis entry does not inflate", underlying: error)
            }
            return try CacheEntry(decoding: inflated)
        default:
            throw CacheStoreError(code: .corruptEntry, message: "a Redis entry has an unknown format flag")
        }
    }
}
