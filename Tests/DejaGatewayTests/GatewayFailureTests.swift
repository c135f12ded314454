import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import Synchronization
import DejaRedis
import Foundation
import Logging
import NIOCore
import Testing

/// The gateway's behaviour when its model server is down, with an injected clock: stale-if-error
/// windows, the breaker's fast failures, and that nothing is billed for failures.
///
/// The model server here is really unreachable (a closed port on loopback), not a fake.
@Suite struct GatewayFailureTests {
    struct Fixture {
        let clock = ManualClock()
        let memory: MemoryStore
        let ledger: SQLiteLedger
        let recorder: UsageRecorder
        let upstream = UpstreamClient(connectTimeout: .seconds(1))
        let gateway: Gateway
        let task: TaskRuntime
        let caller = APIKeyInfo(id: "key_test", tenant: "acme", name: "t", createdAt: 0, revokedAt: nil)
        let folder: String

        let refresher = BackgroundRefresher()

        init(staleIfError: Double = 50, breakerFailures: Int = 3, staleWhileRevalidate: Double = 0) async throws {
            folder = NSTemporaryDirectory() + "deja-gw-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            memory = MemoryStore(budget: 1 << 20, clock: clock.wallClock)
            ledger = try await SQLiteLedger.open(path: folder + "/ledger.sqlite", clock: clock.wallClock, logger: Logger(label: "test"))
            recorder = UsageRecorder(ledger: ledger, logger: Logger(label: "test"))
            var freshness = TaskRuntime.Freshness()
            freshness.ttl = 100
            freshness.ttlJitter = 0
            freshness.staleIfError = staleIfError
            freshness.staleWhileRevalidate = staleWhileRevalidate
            task = TaskRuntime(
                policy: TaskPolicy(task: "ocr", modelName: "PP-OCRv4", modelVersion: "v1", binaryFields: ["file"], requiredFields: ["file"]),
                route: "/ocr", upstreamURL: "http://127.0.0.1:9/ocr", timeout: .seconds(2), freshness: freshness,
                meter: .perPage(10), breaker: CircuitBreaker(failureThreshold: breakerFailures, openSeconds: 30, clock: clock.wallClock)
            )
            gateway = Gateway(cache: memory, fastCache: memory, sealer: .testing, recorder: recorder, upstream: upstream, refresher: refresher,
                              clock: clock.wallClock, logger: Logger(label: "test"))
        }

        func body(_ text: String) -> ByteBuffer {
            ByteBuffer(string: "{\"file\": \"\(Data(text.utf8).base64EncodedString())\"}")
        }

        /// Stores an answer for `body` as if the model had produced it at `createdAt` for a request of
        /// `producer` (default: the caller's tenant).
        func preload(_ body: ByteBuffer, createdAt: Double, producer: String? = nil) throws -> CacheKey {
            let key = try Canonicalizer().canonicalize(body: body, policy: task.policy, scope: caller.tenant).key
            let expiresAt = createdAt + task.freshness.ttl
            memory.setEntry(CacheEntry(
                body: ByteBuffer(string: #"{"errorCode":0,"errorMsg":"Success","result":{"ocrResults":[]}}"#),
                modelVersion: "v1", meteredTokens: 10, upstreamSeconds: 1.5, createdAt: createdAt,
                expiresAt: expiresAt, retainUntil: expiresAt + max(task.freshness.staleIfError, task.freshness.staleWhileRevalidate),
                producer: CacheEntry.producerTag(tenant: producer ?? caller.tenant)
            ), for: key)
            return key
        }

        func billed() async throws -> Int64 {
            await recorder.flush()
            return try await ledger.usage(UsageQuery(tenant: "acme", from: nil, to: nil)).reduce(0) { $0 + $1.billedTokens }
        }

        func close() async throws {
            try await upstream.shutdown()
            try await ledger.close()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    @Test func aFreshEntryIsAHitWhileTheModelIsDown() async throws {
        let f = try await Fixture()
        let body = f.body("invoice")
        let key = try f.preload(body, createdAt: f.clock.now - 10)
        let response = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl())
        #expect(response.status == 200)
        #expect(response.outcome == .hit)
        #expect(response.key == key)
        #expect(response.billed == 0)
        #expect(response.age == 10)
        try await f.close()
    }

    @Test func anExpiredEntryWithinGraceIsServedStaleWhenTheModelFails() async throws {
        let f = try await Fixture(staleIfError: 50)
        let body = f.body("invoice")
        _ = try f.preload(body, createdAt: f.clock.now - 120)   // expired 20 s ago, grace 50 s
        let response = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl())
        #expect(response.status == 200)
        #expect(response.outcome == .stale)
        #expect(response.billed == 0)
        #expect(response.tokens == 10)
        #expect(response.age == 120)
        let text = response.body.map { String(buffer: $0) }.joined()
        #expect(text.hasPrefix("{\"logId\":"))
        #expect(text.contains("\"errorCode\":0"))

        // Past the grace period the entry is gone and the failure shows.
        f.clock.advance(by: 31)
        let after = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl())
        #expect(after.status == 503)
        #expect(after.outcome == nil)
        #expect(after.billed == 0)
        #expect(try await f.billed() == 0)
        try await f.close()
    }

    @Test func theBreakerOpensAfterFailuresAndThenFailsFastWithRetryAfter() async throws {
        let f = try await Fixture(breakerFailures: 2)
        for attempt in 0..<2 {
            let response = await f.gateway.handle(task: f.task, caller: f.caller, body: f.body("miss \(attempt)"), cacheControl: CacheControl())
            #expect(response.status == 503)
            #expect(response.retryAfter == nil)
        }
        #expect(f.task.breaker.state == .open)
        let started = ContinuousClock.now
        let fast = await f.gateway.handle(task: f.task, caller: f.caller, body: f.body("miss 3"), cacheControl: CacheControl())
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect(fast.status == 503)
        #expect(fast.retryAfter == 30)
        let message = fast.body.map { String(buffer: $0) }.joined()
        #expect(message.contains("circuit open"))
        // An answer in cache still flows while the breaker is open.
        let cached = f.body("cached")
        _ = try f.preload(cached, createdAt: f.clock.now)
        #expect(await f.gateway.handle(task: f.task, caller: f.caller, body: cached, cacheControl: CacheControl()).outcome == .hit)
        // After the open period a probe goes through (and fails again here).
        f.clock.advance(by: 30)
        #expect(f.task.breaker.state == .halfOpen)
        #expect(try await f.billed() == 0)
        try await f.close()
    }

    @Test func staleWhileRevalidateServesTheExpiredEntryAndQueuesOneRefresh() async throws {
        let f = try await Fixture(staleIfError: 0, staleWhileRevalidate: 30)
        let body = f.body("hot")
        _ = try f.preload(body, createdAt: f.clock.now - 110)   // expired 10 s ago, window 30 s
        // The refresher is not running here, so queued refreshes stay visible: 20 requests, one refresh.
        let responses = await withTaskGroup(of: TaskResponse.self) { group in
            for _ in 0..<20 {
                group.addTask { await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl()) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(responses.allSatisfy { $0.status == 200 && $0.outcome == .hit && $0.billed == 0 })
        #expect(responses.allSatisfy { ($0.age ?? 0) >= 110 })
        #expect(f.refresher.pendingCount == 1)
        // Past the window the entry is no longer served while revalidating; with no stale-if-error
        // grace, the dead model's failure shows.
        f.clock.advance(by: 21)
        let late = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl())
        #expect(late.status == 503)
        try await f.close()
    }

    @Test func noCacheBypassesAFreshEntryAndNoStoreNeverStores() async throws {
        let f = try await Fixture()
        let body = f.body("invoice")
        _ = try f.preload(body, createdAt: f.clock.now)
        let bypass = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl(noCache: true))
        #expect(bypass.status == 503)   // it really went to the (dead) model
        let maxAge = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl(maxAge: 0))
        #expect(maxAge.outcome == .hit)
        f.clock.advance(by: 5)
        let tooOld = await f.gateway.handle(task: f.task, caller: f.caller, body: body, cacheControl: CacheControl(maxAge: 2))
        #expect(tooOld.status == 503)
        try await f.close()
    }

    /// A Redis that reads fine but answers every write with an error reply (like `OOM` under
    /// `noeviction`): the lock cannot be taken, and nobody else holds it.
    final class WritesRefusedRedis: RedisCommandExecutor {
        let entryReads = Mutex(0)
        func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
            if let get = command as? GET {
                if String(buffer: get.key.bytes).contains(":e:") { entryReads.withLock { $0 += 1 } }
                return Optional<ByteBuffer>.none as! Command.Response
            }
            throw RedisError(code: .serverError, message: "OOM command not allowed when used memory > 'maxmemory'")
        }
        func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
            throw RedisError(code: .serverError, message: "no pub/sub here")
        }
        func primaries() async throws(RedisError) -> [any RedisCommandExecutor] { [self] }
    }

    @Test func aLockThatCannotBeTakenIsNotWaitedFor() async throws {
        let f = try await Fixture()
        let redis = WritesRefusedRedis()
        let coordinator = RedisStore(redis: redis, sealer: .testing, clock: f.clock.wallClock, logger: Logger(label: "test"))
        let gateway = Gateway(cache: f.memory, fastCache: f.memory, sealer: .testing, recorder: f.recorder, upstream: f.upstream,
                              coordinator: coordinator, clock: f.clock.wallClock, logger: Logger(label: "test"))
        // A miss: the lock fails with an error reply, so this instance computes the answer itself (the
        // model is down here: a 503) instead of waiting up to the lock's lifetime for another instance.
        let response = await gateway.handle(task: f.task, caller: f.caller, body: f.body("never seen"), cacheControl: CacheControl())
        #expect(response.status == 503)
        #expect(redis.entryReads.withLock { $0 } == 0)  // never polled for another instance's answer
        try await f.close()
    }
}

extension EntrySealer {
    /// A sealer with one random secret, for tests.
    static let testing = EntrySealer(secrets: try! SealSecrets(parsing: SealSecrets.generate()))
}
