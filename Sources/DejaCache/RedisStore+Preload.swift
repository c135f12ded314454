import DejaCore
import DejaRedis
import NIOCore

extension RedisStore: PreloadSource {
    /// The sorted set of recently used keys (member: key hex; score: last use, seconds since 1970), one
    /// for every instance on this Redis.
    var recentKeysKey: RedisKey { RedisKey(configuration.keyPrefix + "recent") }

    /// Members per `ZADD`.
    static let membersPerCommand = 500
    /// Entries read at once by ``sealedEntries(_:)``.
    static let concurrentReads = 32

    /// `ZADD … GT` of `keys` (the first most recent), then `ZREMRANGEBYRANK` down to `limit` members.
    public func recordRecentKeys(_ keys: [CacheKey], at time: Double, limit: Int) async throws(CacheStoreError) {
        guard !keys.isEmpty else { return }
        let setKey = recentKeysKey
        try await call("could not record recently used keys in Redis") {
            var rank = 0
            for chunk in keys.chunks(of: Self.membersPerCommand) {
                var arguments: [RESPArgument] = ["ZADD", .key(setKey), "GT"]
                arguments.reserveCapacity(3 + chunk.count * 2)
                for key in chunk {
                    arguments.append(.string(String(time - Double(rank) * 1e-6)))
                    arguments.append(.string(key.hex))
                    rank += 1
                }
                _ = try await redis.execute(RawCommand(arguments, keys: [setKey]))
            }
            _ = try await redis.execute(RawCommand(
                ["ZREMRANGEBYRANK", .key(setKey), "0", .integer(Int64(-(max(0, limit) + 1)))], keys: [setKey]
            ))
        }
    }

    /// `ZREVRANGE` of the recent keys, most recent first.
    public func recentKeys(limit: Int) async throws(CacheStoreError) -> [CacheKey] {
        guard limit > 0 else { return [] }
        let setKey = recentKeysKey
        let reply = try await call("could not read recently used keys from Redis") {
            try await redis.execute(RawCommand(
                ["ZREVRANGE", .key(setKey), "0", .integer(Int64(limit - 1))], keys: [setKey], isReadOnly: true
            ))
        }
        do {
            return try reply.array().compactMap { member in try CacheKey(hex: member.string()) }
        } catch {
            throw .storage("could not read recently used keys from Redis", error)
        }
    }

    /// `GET` of each key's entry, a few at a time (each routed to its own slot). Redis keeps no readable
    /// retain-until beside the sealed value, so it is learnt when the entry is opened.
    public func sealedEntries(_ keys: [CacheKey]) async throws(CacheStoreError) -> [SealedEntry] {
        var found: [SealedEntry] = []
        for chunk in keys.chunks(of: Self.concurrentReads) {
            let values = try await call("could not read entries to preload from Redis") {
                try await withThrowingTaskGroup(of: (CacheKey, ByteBuffer?).self) { group in
                    for key in chunk {
                        let entryKey = entryKey(key)
                        group.addTask { (key, try await self.redis.execute(GET(entryKey))) }
                    }
                    var values: [(CacheKey, ByteBuffer?)] = []
                    for try await value in group { values.append(value) }
                    return values
                }
            }
            for case (let key, let value?) in values {
                found.append(SealedEntry(key: key, value: value, retainUntil: .infinity))
            }
        }
        return found
    }

    /// Opens and decodes an entry read by ``sealedEntries(_:)``.
    public func open(_ sealed: SealedEntry, sealing: SealingDigest) -> CacheEntry? {
        guard case .success(let opened) = sealer.open(sealed.value, name: sealed.key, sealing: sealing, purpose: .entry) else {
            return nil
        }
        return try? decode(opened)
    }
}
