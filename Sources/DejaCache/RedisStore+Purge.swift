import Crypto
import DejaCore
import DejaRedis
import NIOCore

/// A Lua script run with `EVALSHA`, falling back to `EVAL` when the server does not know it yet.
struct RedisScript: Sendable {
    let source: String
    let sha1: String

    init(_ source: String) {
        self.source = source
        sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    func run(on redis: any RedisCommandExecutor, keys: [RedisKey], arguments: [RESPArgument]) async throws(RedisError) -> RESPToken {
        do {
            return try await redis.execute(EVALSHA(sha1: sha1, keys: keys, arguments: arguments))
        } catch where error.serverErrorPrefix == "NOSCRIPT" {
            return try await redis.execute(EVAL(script: source, keys: keys, arguments: arguments))
        }
    }
}

/// Purges and capacity figures over the version index.
///
/// Every entry whose task is known is listed, when stored, in its task's and model version's index: a
/// sorted set `<prefix>i:{<task>}:<version>` whose members are `<key hex>:<scope tag hex>` scored by the
/// entry's creation time; the set `<prefix>v:{<task>}` lists the task's versions. The `{<task>}` hash tag
/// keeps a task's index keys in one cluster slot, so one script updates both atomically; the entries
/// themselves stay spread over every slot. A purge reads the indexes it needs with `ZSCAN` (a cursor over
/// one key, never over the keyspace), unlinks the matching entries, each routed to its own slot and sent
/// pipelined, and removes their members. Index members can outlive their entries (an entry expires by its
/// TTL, its member stays until trimmed): unlinking a missing entry counts nothing, so counts stay exact,
/// and ``trimIndex(task:createdBefore:)`` drops old members in small steps.
extension RedisStore {
    /// Adds a member to a version index and the version to the task's set, atomically (one slot).
    static let indexScript = RedisScript("redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) redis.call('SADD', KEYS[2], ARGV[3]) return 1")
    /// Forgets a version once its index is empty (an empty sorted set no longer exists), atomically with puts.
    static let forgetVersionScript = RedisScript(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return redis.call('SREM', KEYS[2], ARGV[1]) end return 0")

    /// Index members a purge or trim handles per round trip.
    static let indexChunk = 500

    func indexKey(task: String, version: String) -> RedisKey {
        RedisKey(configuration.keyPrefix + "i:{" + task + "}:" + version)
    }

    func versionsKey(task: String) -> RedisKey { RedisKey(configuration.keyPrefix + "v:{" + task + "}") }

    /// A member of a version index: the content key and the scope tag, both in hex.
    static func indexMember(_ key: CacheKey, scopeTag: UInt64) -> String {
        let tag = String(scopeTag, radix: 16)
        return key.hex + ":" + String(repeating: "0", count: 16 - tag.count) + tag
    }

    /// Parses ``indexMember(_:scopeTag:)``; `nil` for anything else.
    static func parseIndexMember(_ member: some StringProtocol) -> (key: CacheKey, scopeTag: UInt64)? {
        guard member.utf8.count == 64 + 1 + 16 else { return nil }
        let colon = member.index(member.startIndex, offsetBy: 64)
        guard member[colon] == ":", let key = CacheKey(hex: member[..<colon]),
              let tag = UInt64(member[member.index(after: colon)...], radix: 16)
        else { return nil }
        return (key, tag)
    }

    /// Lists a stored entry in its version index; called by ``put(_:_:sealing:)`` alongside the `SET`.
    func index(_ key: CacheKey, _ entry: CacheEntry) async throws {
        _ = try await Self.indexScript.run(
            on: redis, keys: [indexKey(task: entry.task, version: entry.modelVersion), versionsKey(task: entry.task)],
            arguments: [.string(String(entry.createdAt)), .string(Self.indexMember(key, scopeTag: entry.scopeTag)),
                        .string(entry.modelVersion)])
    }

    /// Removes every entry `filter` matches; returns how many were unlinked.
    ///
    /// `tasks` names the tasks to look in when the filter names none (the configured tasks). A filter
    /// with only a key unlinks that entry directly. ``PurgeFilter/all`` without conditions removes every
    /// entry and index under the prefix with `SCAN` on each primary: the one purge that visits the
    /// keyspace, and only when asked for explicitly. Entries stored before the index existed are reached
    /// only by key or `all`.
    public func remove(matching filter: PurgeFilter, tasks: [String]) async throws(CacheStoreError) -> Int {
        guard !filter.isEmpty else { return 0 }
        if !filter.hasConditions { return try await removeEverything() }
        if let key = filter.key, filter.task == nil, filter.modelVersion == nil, filter.scopeTag == nil, filter.createdBefore == nil {
            return try await call("could not remove an entry from Redis") { try await self.unlink([self.entryKey(key)]) }
        }
        return try await call("could not purge entries from Redis") {
            var removed = 0
            for task in filter.task.map({ [$0] }) ?? tasks {
                var versions = filter.modelVersion.map { [$0] } ?? []
                if filter.modelVersion == nil { versions = try await self.versions(task: task) }
                for version in versions {
                    removed += try await self.purgeIndex(task: task, version: version, filter: filter)
                }
            }
            return removed
        }
    }

    /// The model versions the index lists for `task`.
    func versions(task: String) async throws -> [String] {
        try await redis.execute(RawCommand(["SMEMBERS", .key(versionsKey(task: task))], keys: [versionsKey(task: task)], isReadOnly: true))
            .array().map { try $0.string() }
    }

    private func purgeIndex(task: String, version: String, filter: PurgeFilter) async throws -> Int {
        let index = indexKey(task: task, version: version)
        var removed = 0
        var cursor = "0"
        repeat {
            let page = try await redis.execute(RawCommand(
                ["ZSCAN", .key(index), .string(cursor), "COUNT", .integer(Int64(Self.indexChunk))], keys: [index], isReadOnly: true)
            ).array()
            guard page.count == 2 else { throw RedisError(code: .unexpectedResponse, message: "ZSCAN replied without a cursor and a page") }
            cursor = try page[0].string()
            let pairs = try page[1].array()
            var members: [RESPArgument] = []
            var entries: [RedisKey] = []
            var position = 0
            while position + 1 < pairs.count {
                let member = try pairs[position].string()
                let score = Double(try pairs[position + 1].string()) ?? .infinity
                position += 2
                guard let (key, tag) = Self.parseIndexMember(member) else { continue }
                if let wanted = filter.key, wanted != key { continue }
                if let wanted = filter.scopeTag, wanted != tag { continue }
                if let before = filter.createdBefore, score >= before { continue }
                members.append(.string(member))
                entries.append(entryKey(key))
            }
            guard !entries.isEmpty else { continue }
            removed += try await unlink(entries)
            _ = try await redis.execute(RawCommand(["ZREM", .key(index)] + members, keys: [index]))
        } while cursor != "0"
        _ = try await Self.forgetVersionScript.run(on: redis, keys: [index, versionsKey(task: task)], arguments: [.string(version)])
        return removed
    }

    /// Unlinks `keys`, one command per hash slot, all sent at once; returns how many existed.
    private func unlink(_ keys: [RedisKey]) async throws -> Int {
        var bySlot: [HashSlot: [RedisKey]] = [:]
        for key in keys { bySlot[key.hashSlot, default: []].append(key) }
        return try await withThrowingTaskGroup(of: Int64.self) { group in
            for batch in bySlot.values {
                group.addTask { try await self.redis.execute(RawCommand(["UNLINK"] + batch.map { .key($0) }, keys: batch)).integer() }
            }
            return try await group.reduce(0) { $0 + Int($1) }
        }
    }

    /// Counts and removes every entry and index under the prefix, `SCAN`ning each primary.
    private func removeEverything() async throws(CacheStoreError) -> Int {
        do {
            var removed = 0
            for primary in try await redis.primaries() {
                for pattern in ["e:*", "i:*", "v:*"] {
                    var cursor = "0"
                    repeat {
                        let page = try await primary.execute(SCAN(cursor: cursor, pattern: configuration.keyPrefix + pattern, count: 1000))
                        cursor = page.cursor
                        var bySlot: [HashSlot: [RedisKey]] = [:]
                        for key in page.keys { bySlot[key.hashSlot, default: []].append(key) }
                        for keys in bySlot.values {
                            let count = try await primary.execute(RawCommand(["UNLINK"] + keys.map { .key($0) }, keys: keys)).integer()
                            if pattern == "e:*" { removed += Int(count) }
                        }
                    } while cursor != "0"
                }
            }
            return removed
        } catch {
            throw .storage("could not remove every entry from Redis", error)
        }
    }

    /// Drops index members of `task` created before `cutoff` (their entries have expired), at most
    /// ``indexChunk`` per round trip, and forgets versions whose index is empty; returns how many.
    /// The janitor calls it with a cutoff past the task's longest retention.
    @discardableResult
    public func trimIndex(task: String, createdBefore cutoff: Double) async throws(CacheStoreError) -> Int {
        try await call("could not trim the Redis index") {
            var trimmed = 0
            for version in try await self.versions(task: task) {
                let index = self.indexKey(task: task, version: version)
                while true {
                    let old = try await self.redis.execute(RawCommand(
                        ["ZRANGE", .key(index), "-inf", .string("(" + String(cutoff)), "BYSCORE", "LIMIT", "0", .integer(Int64(Self.indexChunk))],
                        keys: [index], isReadOnly: true)).array()
                    guard !old.isEmpty else { break }
                    trimmed += Int(try await self.redis.execute(RawCommand(["ZREM", .key(index)] + old.map { .bytes(try $0.bytes() ?? ByteBuffer()) }, keys: [index])).integer())
                    if old.count < Self.indexChunk { break }
                }
                _ = try await Self.forgetVersionScript.run(
                    on: self.redis, keys: [index, self.versionsKey(task: task)], arguments: [.string(version)])
            }
            return trimmed
        }
    }

    /// Entries per task from the index (`ZCARD`, which counts members whose entries may have expired
    /// but are not yet trimmed), with sizes measured on a random sample of at most `sample` members per
    /// version (`ZRANDMEMBER`, then `STRLEN` of each entry; members whose entry is gone are left out).
    public func usageByTask(_ tasks: [String], sample: Int = 200) async throws(CacheStoreError) -> [TaskCacheUsage] {
        try await call("could not read the Redis index") {
            var usage: [TaskCacheUsage] = []
            for task in tasks {
                var entries = 0
                var sizes: [Int] = []
                for version in try await self.versions(task: task) {
                    let index = self.indexKey(task: task, version: version)
                    entries += Int(try await self.redis.execute(RawCommand(["ZCARD", .key(index)], keys: [index], isReadOnly: true)).integer())
                    let members = try await self.redis.execute(RawCommand(
                        ["ZRANDMEMBER", .key(index), .integer(Int64(sample))], keys: [index], isReadOnly: true)).array()
                    sizes += try await self.storedSizes(members.compactMap { try? Self.parseIndexMember($0.string())?.key })
                }
                usage.append(TaskCacheUsage(task: task, entries: entries, sizes: sizes, sampled: sizes.count))
            }
            return usage
        }
    }

    /// `STRLEN` of each key's entry, sent at once; entries that no longer exist are left out.
    private func storedSizes(_ keys: [CacheKey]) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for key in keys {
                let entryKey = entryKey(key)
                group.addTask { try await self.redis.execute(RawCommand(["STRLEN", .key(entryKey)], keys: [entryKey], isReadOnly: true)).integer() }
            }
            return try await group.reduce(into: []) { sizes, size in if size > 0 { sizes.append(Int(size)) } }
        }
    }

    /// Bytes Redis charges per key beyond its value: `MEMORY USAGE` of a probe key holding `valueBytes`
    /// bytes minus `valueBytes`, measured on a key written and deleted for the purpose (under the prefix,
    /// expiring in a minute should the delete be lost). `nil` when the server refuses `MEMORY USAGE`.
    public func perKeyOverhead(valueBytes: Int = 1024) async throws(CacheStoreError) -> Int? {
        let probe = RedisKey(configuration.keyPrefix + "e:capacity-probe")
        return try await call("could not measure Redis's per-key overhead") {
            _ = try await self.redis.execute(SET(probe, value: ByteBuffer(repeating: 0x78, count: valueBytes), milliseconds: 60_000))
            let usage = try? await self.redis.execute(
                RawCommand(["MEMORY", "USAGE", .key(probe), "SAMPLES", "0"], keys: [probe], isReadOnly: true)).integer()
            _ = try await self.redis.execute(DEL([probe]))
            guard let usage else { return nil }
            return max(0, Int(usage) - valueBytes)
        }
    }
}
