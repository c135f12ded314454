import DejaCore
import DejaRedis
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import DejaCache

/// An executor for tests that never reach Redis.
private struct NoRedis: RedisCommandExecutor {
    func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        throw RedisError(code: .unavailable, message: "no Redis in this test")
    }
    func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        throw RedisError(code: .unavailable, message: "no Redis in this test")
    }
    func primaries() async throws(RedisError) -> [any RedisCommandExecutor] { [] }
}

/// An executor that fails every command with `code` and counts the calls that reached it.
private final class FailingRedis: RedisCommandExecutor {
    let code: RedisError.Code
    let calls = Mutex(0)
    init(_ code: RedisError.Code) { self.code = code }
    func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        calls.withLock { $0 += 1 }
        throw RedisError(code: code, message: "failing on purpose")
    }
    func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        throw RedisError(code: code, message: "failing on purpose")
    }
    func primaries() async throws(RedisError) -> [any RedisCommandExecutor] { [self] }
}

@Suite("RedisStore breaker")
struct RedisStoreBreakerTests {
    @Test func aFailingRedisIsNotWaitedOnOnceTheBreakerOpens() async throws {
        let clock = ManualClock()
        let redis = FailingRedis(.timeout)
        let store = RedisStore(redis: redis, sealer: .testing, clock: clock.wallClock,
                               breaker: CircuitBreaker(failureThreshold: 3, openSeconds: 2, clock: clock.wallClock))
        for _ in 0..<10 {
            await #expect(throws: CacheStoreError.self) { try await store.get(Fixture.key(1), sealing: .testing) }
        }
        #expect(redis.calls.withLock { $0 } == 3)  // the other seven failed at once, without a call
        #expect(store.breaker.state == .open)
        clock.advance(by: 2)
        await #expect(throws: CacheStoreError.self) { try await store.capacity() }  // one probe
        #expect(redis.calls.withLock { $0 } == 4)
        #expect(store.breaker.state == .open)
    }

    @Test func errorRepliesDoNotOpenTheBreaker() async throws {
        let redis = FailingRedis(.serverError)
        let store = RedisStore(redis: redis, sealer: .testing, breaker: CircuitBreaker(failureThreshold: 3, openSeconds: 2, clock: ManualClock().wallClock))
        for _ in 0..<10 {
            await #expect(throws: CacheStoreError.self) { try await store.get(Fixture.key(1), sealing: .testing) }
        }
        #expect(redis.calls.withLock { $0 } == 10)
        #expect(store.breaker.state == .closed)
    }
}

@Suite("RedisStore values")
struct RedisStoreCodecTests {
    let store = RedisStore(redis: NoRedis(), sealer: .testing)

    @Test func smallEntriesAreStoredPlain() throws {
        let entry = Fixture.entry(size: 100)
        let value = try store.encode(entry)
        #expect(value.getInteger(at: value.readerIndex, as: UInt8.self) == RedisStore.flagPlain)
        #expect(value.readableBytes == entry.encoded().readableBytes + 1)
        #expect(try store.decode(value) == entry)
    }

    @Test func largeEntriesAreDeflated() throws {
        let entry = Fixture.entry(size: 100_000)
        let value = try store.encode(entry)
        #expect(value.getInteger(at: value.readerIndex, as: UInt8.self) == RedisStore.flagDeflate)
        #expect(value.readableBytes < 10_000)
        #expect(try store.decode(value) == entry)
    }

    @Test func incompressibleLargeEntriesStayPlain() throws {
        var generator = SystemRandomNumberGenerator()
        var body = ByteBuffer()
        for _ in 0..<20_000 { body.writeInteger(UInt8.random(in: 0...255, using: &generator)) }
        var entry = Fixture.entry()
        entry.body = body
        let value = try store.encode(entry)
        #expect(value.getInteger(at: value.readerIndex, as: UInt8.self) == RedisStore.flagPlain)
        #expect(try store.decode(value) == entry)
    }

    @Test func badValuesAreCorruptEntries() {
        let flag = #expect(throws: CacheStoreError.self) { try store.decode(ByteBuffer(bytes: [9, 1, 2])) }
        #expect(flag?.code == .corruptEntry)
        let deflate = #expect(throws: CacheStoreError.self) { try store.decode(ByteBuffer(bytes: [1, 1, 2, 3])) }
        #expect(deflate?.code == .corruptEntry)
    }

    @Test func storeFailuresAreStorageErrors() async {
        let error = await #expect(throws: CacheStoreError.self) { try await store.get(Fixture.key(1), sealing: .testing) }
        #expect(error?.code == .storageFailed)
        #expect(error?.underlying is RedisError)
    }

    @Test func keysAndChannels() {
        let key = Fixture.key(1)
        #expect(store.entryKey(key) == RedisKey("deja:e:" + key.hex))
        #expect(store.lockKey(key) == RedisKey("deja:l:" + key.hex))
        #expect(store.channel(key) == "deja:c:" + key.hex)
    }
}

/// The servers started by `scripts/redis.sh start`, as named by the environment.
enum RedisBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case standalone, cluster

    var testDescription: String { rawValue }

    static var available: [RedisBackend] {
        let environment = ProcessInfo.processInfo.environment
        return allCases.filter { environment[$0 == .standalone ? "DEJA_REDIS_URL" : "DEJA_REDIS_CLUSTER"] != nil }
    }

    func makeClient() throws -> any RedisCommandExecutor & Sendable {
        let environment = ProcessInfo.processInfo.environment
        switch self {
        case .standalone: return try RedisClient(url: environment["DEJA_REDIS_URL"]!)
        case .cluster: return RedisClusterClient(configuration: try RedisClusterConfiguration(seedList: environment["DEJA_REDIS_CLUSTER"]!))
        }
    }

    /// A key no other test run uses.
    static func freshKey() -> CacheKey {
        CacheKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
    }
}

@Suite("RedisStore on real Redis", .serialized, .enabled(if: !RedisBackend.available.isEmpty))
struct RedisStoreTests {
    func entry(ttl: Double, size: Int = 64, fill: UInt8 = 0x41) -> CacheEntry {
        Fixture.entry(size: size, now: Date().timeIntervalSince1970, ttl: ttl, fill: fill)
    }

    @Test(arguments: RedisBackend.available)
    func putGetRemove(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        #expect(try await store.get(key, sealing: .testing) == nil)
        let entry = entry(ttl: 60)
        try await store.put(key, entry, sealing: .testing)
        #expect(try await store.get(key, sealing: .testing) == entry)
        let ttl = try await store.redis.execute(PTTL(store.entryKey(key)))
        // 60 s ± 5 %, less the time since the entry was made (a loaded machine took seconds here).
        let elapsed = Int((Date().timeIntervalSince1970 - entry.createdAt) * 1000)
        #expect(ttl > 57_000 - elapsed && ttl <= 63_000)
        try await store.remove(key)
        #expect(try await store.get(key, sealing: .testing) == nil)
    }

    @Test(arguments: RedisBackend.available)
    func aliasesAreSharedWithTheirTTL(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let name = RedisBackend.freshKey(), key = RedisBackend.freshKey()
        #expect(try await store.alias(name, sealing: .testing) == nil)
        let set = ContinuousClock.now
        try await store.setAlias(name, sealing: .testing, to: key, target: SealingDigest(Fixture.key(9)), ttl: .seconds(90))
        let found = try #require(try await store.alias(name, sealing: .testing))
        #expect(found.key == key && found.sealing == SealingDigest(Fixture.key(9)))
        // Sealed with the body's digest: another digest (someone without the body) finds no alias.
        #expect(try await store.alias(name, sealing: SealingDigest(Fixture.key(8))) == nil)
        let ttl = try await store.redis.execute(PTTL(store.aliasKey(name)))
        let elapsed = Int((ContinuousClock.now - set) / .milliseconds(1))
        #expect(ttl > 89_000 - elapsed && ttl <= 90_000)
        try await store.redis.execute(SET(store.aliasKey(name), value: ByteBuffer(string: "not a key"), milliseconds: 1000))
        #expect(try await store.alias(name, sealing: .testing) == nil)  // a damaged alias is no alias
    }

    @Test(arguments: RedisBackend.available)
    func entriesExpire(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        // Generous margins: Redis expires by its own clock, and a loaded CI machine is slow.
        try await store.put(key, entry(ttl: 5), sealing: .testing)
        #expect(try await store.get(key, sealing: .testing) != nil)
        try await Task.sleep(for: .milliseconds(6_000))
        #expect(try await store.get(key, sealing: .testing) == nil)
        #expect(try await store.redis.execute(GET(store.entryKey(key))) == nil)  // gone from Redis too
        try await store.put(key, entry(ttl: -1), sealing: .testing)  // already past retention: not stored
        #expect(try await store.redis.execute(GET(store.entryKey(key))) == nil)
    }

    @Test(arguments: RedisBackend.available)
    func redisHoldsNoAnswerInClearAndNoneOpensWithoutTheRequest(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        var answer = entry(ttl: 60)
        answer.body = ByteBuffer(string: "ocr says 11010519491231002X")
        try await store.put(key, answer, sealing: .testing)
        let raw = try #require(try await store.redis.execute(GET(store.entryKey(key))))
        #expect(String(decoding: raw.readableBytesView, as: UTF8.self).contains("11010519491231002X") == false)
        #expect(try await store.get(key, sealing: SealingDigest(RedisBackend.freshKey())) == nil)  // a miss, not an error
        // Another instance with a rotated secret list still opens it; one without its secret misses.
        let rotated = EntrySealer(secrets: try SealSecrets(parsing: SealSecrets.generate(id: "next") + EntrySealer.testingSecrets))
        #expect(try await RedisStore(redis: try backend.makeClient(), sealer: rotated).get(key, sealing: .testing) == answer)
        let other = EntrySealer(secrets: try SealSecrets(parsing: SealSecrets.generate(id: "other")))
        #expect(try await RedisStore(redis: try backend.makeClient(), sealer: other).get(key, sealing: .testing) == nil)
        try await store.remove(key)
    }

    @Test(arguments: RedisBackend.available)
    func largeAnswersAreCompressedInRedis(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        let large = entry(ttl: 60, size: 200_000, fill: 0x7B)
        try await store.put(key, large, sealing: .testing)
        let raw = try #require(try await store.redis.execute(GET(store.entryKey(key))))
        #expect(raw.readableBytes < 20_000)
        // Compressed inside the seal (a sealed value does not compress).
        let opened = try store.sealer.open(raw, name: key, sealing: .testing, purpose: .entry).get()
        #expect(opened.getInteger(at: opened.readerIndex, as: UInt8.self) == RedisStore.flagDeflate)
        #expect(try await store.get(key, sealing: .testing) == large)
        try await store.remove(key)
    }

    @Test(arguments: RedisBackend.available)
    func lockIsExclusiveOwnedAndExpires(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        #expect(try await store.tryLock(key: key, owner: "instance-a", ttl: .seconds(5)))
        #expect(try await store.tryLock(key: key, owner: "instance-b", ttl: .seconds(5)) == false)
        #expect(try await store.unlock(key: key, owner: "instance-b") == false)
        #expect(try await store.tryLock(key: key, owner: "instance-b", ttl: .seconds(5)) == false)
        #expect(try await store.unlock(key: key, owner: "instance-a"))
        #expect(try await store.tryLock(key: key, owner: "instance-b", ttl: .milliseconds(200)))
        try await Task.sleep(for: .milliseconds(400))  // the owner "died"
        #expect(try await store.tryLock(key: key, owner: "instance-c", ttl: .seconds(5)))
        #expect(try await store.unlock(key: key, owner: "instance-c"))
    }

    @Test("a waiter on one instance is woken by a put on another, through pub/sub", arguments: RedisBackend.available)
    func waitForEntryWakesOnPut(_ backend: RedisBackend) async throws {
        // Polling is set far beyond the test, so only the published message can wake the waiter in time.
        let waiter = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(pollInterval: .seconds(60)))
        let writer = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        let entry = entry(ttl: 60)
        #expect(try await writer.tryLock(key: key, owner: "writer", ttl: .seconds(20)))  // the writer computes it
        let start = ContinuousClock.now
        async let waited = waiter.waitForEntry(key: key, sealing: .testing, timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(300))
        try await writer.put(key, entry, sealing: .testing)
        #expect(try await waited == entry)
        #expect(ContinuousClock.now - start < .seconds(30))  // polling is every 60 s: only pub/sub wakes it sooner
        try await writer.unlock(key: key, owner: "writer")
        try await writer.remove(key)
    }

    @Test("a lock released without an entry ends the wait at once (a skipped answer, a failed call)", arguments: RedisBackend.available)
    func waitForEntryEndsWhenTheLockIsReleasedEmpty(_ backend: RedisBackend) async throws {
        let waiter = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(pollInterval: .seconds(60)))
        let writer = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let key = RedisBackend.freshKey()
        #expect(try await writer.tryLock(key: key, owner: "writer", ttl: .seconds(30)))
        let start = ContinuousClock.now
        async let waited = waiter.waitForEntry(key: key, sealing: .testing, timeout: .seconds(20))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await writer.unlock(key: key, owner: "writer"))  // stored nothing
        #expect(try await waited == nil)
        #expect(ContinuousClock.now - start < .seconds(10))  // not the lock's 30 s, nor the 20 s timeout
        // Nobody holds the lock and nothing is stored: nothing to wait for.
        #expect(try await waiter.waitForEntry(key: key, sealing: .testing, timeout: .seconds(20)) == nil)
    }

    @Test("without pub/sub the waiter still finds the entry by polling", arguments: RedisBackend.available)
    func waitForEntryPolls(_ backend: RedisBackend) async throws {
        let waiter = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(pollInterval: .milliseconds(50)))
        let writer = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(publishOnPut: false))
        let key = RedisBackend.freshKey()
        let entry = entry(ttl: 60)
        #expect(try await writer.tryLock(key: key, owner: "writer", ttl: .seconds(20)))
        async let waited = waiter.waitForEntry(key: key, sealing: .testing, timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(200))
        try await writer.put(key, entry, sealing: .testing)
        #expect(try await waited == entry)
        try await writer.unlock(key: key, owner: "writer")
        #expect(try await waiter.waitForEntry(key: RedisBackend.freshKey(), sealing: .testing, timeout: .milliseconds(200)) == nil)
        try await writer.remove(key)
    }

    @Test(arguments: RedisBackend.available)
    func capacityReadsInfo(_ backend: RedisBackend) async throws {
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing)
        let capacity = try await store.capacity()
        #expect(capacity.usedMemory > 0)
        #expect(capacity.maxMemory >= capacity.usedMemory || capacity.maxMemory == 0)
        #expect(capacity.evictedKeys >= 0)
    }

    @Test(arguments: RedisBackend.available)
    func removeAllRemovesOnlyEntries(_ backend: RedisBackend) async throws {
        let prefix = "deja-test-\(UUID().uuidString):"
        let store = RedisStore(redis: try backend.makeClient(), sealer: .testing, configuration: .init(keyPrefix: prefix))
        let keys = (0..<40).map { _ in RedisBackend.freshKey() }
        for key in keys { try await store.put(key, entry(ttl: 60), sealing: .testing) }
        #expect(try await store.tryLock(key: keys[0], owner: "me", ttl: .seconds(5)))
        try await store.removeAll()
        for key in keys { #expect(try await store.get(key, sealing: .testing) == nil) }
        #expect(try await store.unlock(key: keys[0], owner: "me"))  // locks are not entries
    }
}
