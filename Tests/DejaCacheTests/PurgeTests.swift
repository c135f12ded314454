@testable import DejaCache
import DejaCore
import DejaRedis
import Foundation
import NIOCore
import SQLiteNIO
import Testing

/// Entries of two tasks, two versions, two scopes and two ages, the same set for every store.
enum PurgeFixture {
    static let acme = CacheEntry.scopeTag(scopeField: "tenant:acme")
    static let globex = CacheEntry.scopeTag(scopeField: "tenant:globex")

    /// Key number → entry: 0–3 ocr v1 (acme, globex, old acme, old globex), 4–5 ocr v2, 6–7 text v1,
    /// 8 a legacy entry (no task, no scope).
    static func entries(now: Double) -> [(CacheKey, CacheEntry)] {
        func make(_ n: Int, task: String, version: String, scope: UInt64, age: Double) -> (CacheKey, CacheEntry) {
            var entry = Fixture.entry(size: 100 + n, now: now - age, ttl: 86_400 * 30)
            entry.task = task
            entry.modelVersion = version
            entry.scopeTag = scope
            return (Fixture.key(n), entry)
        }
        return [
            make(0, task: "ocr", version: "v1", scope: acme, age: 60),
            make(1, task: "ocr", version: "v1", scope: globex, age: 60),
            make(2, task: "ocr", version: "v1", scope: acme, age: 10 * 86_400),
            make(3, task: "ocr", version: "v1", scope: globex, age: 10 * 86_400),
            make(4, task: "ocr", version: "v2", scope: acme, age: 60),
            make(5, task: "ocr", version: "v2", scope: globex, age: 60),
            make(6, task: "text", version: "v1", scope: acme, age: 60),
            make(7, task: "text", version: "v1", scope: globex, age: 60),
            make(8, task: "", version: "v1", scope: 0, age: 10 * 86_400),
        ]
    }

    /// Filters and the key numbers each removes, at `now`.
    static func cases(now: Double) -> [(PurgeFilter, Set<Int>)] {
        [
            (PurgeFilter(task: "ocr", modelVersion: "v1"), [0, 1, 2, 3]),
            (PurgeFilter(modelVersion: "v1"), [0, 1, 2, 3, 6, 7]),
            (PurgeFilter(task: "ocr"), [0, 1, 2, 3, 4, 5]),
            (PurgeFilter(task: "ocr", scopeTag: acme), [0, 2, 4]),
            (PurgeFilter(scopeTag: globex), [1, 3, 5, 7]),
            (PurgeFilter(createdBefore: now - 7 * 86_400), [2, 3]),
            (PurgeFilter(task: "ocr", modelVersion: "v1", createdBefore: now - 7 * 86_400), [2, 3]),
            (PurgeFilter(key: Fixture.key(8)), [8]),
            (PurgeFilter(task: "ocr", key: Fixture.key(6)), []),
            (PurgeFilter(all: true), Set(0...8)),
            (PurgeFilter(), []),
        ]
    }
}

@Suite struct PurgeFilterTests {
    @Test func matchesEveryConditionAndNeverLegacyEntriesByMetadata() {
        let now = 1_800_000_000.0
        let entries = PurgeFixture.entries(now: now)
        for (filter, expected) in PurgeFixture.cases(now: now) {
            let matched = Set(entries.enumerated().filter { filter.matches($0.element.0, $0.element.1) }.map(\.offset))
            #expect(matched == expected, "\(filter.wireText)")
        }
    }

    @Test func travelsAsTextUnchanged() throws {
        let filter = PurgeFilter(
            task: "ocr", modelVersion: "v=2&b%", key: Fixture.key(3), scopeTag: PurgeFixture.acme, createdBefore: 1_799_999_999.25)
        let text = filter.wireText
        #expect(PurgeFilter(wireText: text) == filter)
        #expect(PurgeFilter(wireText: "all=1") == PurgeFilter(all: true))
        #expect(PurgeFilter(wireText: "") == nil)  // purges nothing
        #expect(PurgeFilter(wireText: "task=ocr&colour=red") == nil)
        #expect(PurgeFilter(wireText: "key=abc") == nil)
    }
}

@Suite struct MemoryStorePurgeTests {
    @Test func removesWhatTheFilterMatchesAndCountsIt() {
        let clock = ManualClock()
        for (filter, expected) in PurgeFixture.cases(now: clock.now) {
            let store = MemoryStore(budget: 1 << 20, shardCount: 4, clock: clock.wallClock)
            for (key, entry) in PurgeFixture.entries(now: clock.now) { store.setEntry(entry, for: key) }
            #expect(store.removeEntries(matching: filter) == expected.count, "\(filter.wireText)")
            for n in 0...8 {
                #expect((store.entry(for: Fixture.key(n)) == nil) == expected.contains(n), "\(filter.wireText) key \(n)")
            }
        }
    }

    @Test func visitsEverySlotAcrossChunks() {
        let clock = ManualClock()
        let store = MemoryStore(budget: 64 << 20, shardCount: 1, clock: clock.wallClock)
        let count = MemoryStore.purgeChunk * 2 + 10
        for n in 0..<count {
            var entry = Fixture.entry(now: clock.now)
            entry.task = n % 2 == 0 ? "ocr" : "text"
            store.setEntry(entry, for: Fixture.key(n))
        }
        #expect(store.removeEntries(matching: PurgeFilter(task: "ocr")) == (count + 1) / 2)
        #expect(store.count == count / 2)
        #expect(store.chargesByTask().keys.sorted() == ["text"])
    }

    @Test func chargesByTaskSumToTheBytesUsed() {
        let clock = ManualClock()
        let store = MemoryStore(budget: 1 << 20, shardCount: 4, clock: clock.wallClock)
        for (key, entry) in PurgeFixture.entries(now: clock.now) { store.setEntry(entry, for: key) }
        let charges = store.chargesByTask()
        #expect(charges["ocr"]?.count == 6 && charges["text"]?.count == 2 && charges[""]?.count == 1)
        #expect(charges.values.joined().reduce(0, +) == store.bytesUsed)
    }
}

@Suite struct SQLiteStorePurgeTests {
    @Test func removesWhatTheFilterMatchesAndCountsIt() async throws {
        let clock = ManualClock()
        for (filter, expected) in PurgeFixture.cases(now: clock.now) {
            let directory = try Fixture.temporaryDirectory()
            defer { Fixture.cleanup(directory) }
            let store = try await SQLiteStore.open(
                path: directory.appendingPathComponent("cache.sqlite").path, sealer: .testing, clock: clock.wallClock)
            for (key, entry) in PurgeFixture.entries(now: clock.now) {
                if entry.task.isEmpty {
                    try await insertLegacyRow(store: store, key: key, entry: entry)
                } else {
                    try await store.put(key, entry, sealing: .testing)
                }
            }
            #expect(try await store.remove(matching: filter) == expected.count, "\(filter.wireText)")
            for n in 0...8 {
                #expect((try await store.get(Fixture.key(n), sealing: .testing) == nil) == expected.contains(n), "\(filter.wireText) key \(n)")
            }
            try await store.close()
        }
    }

    /// A row as a file from before the metadata columns has it: metadata `NULL`.
    func insertLegacyRow(store: SQLiteStore, key: CacheKey, entry: CacheEntry) async throws {
        try await store.put(key, entry, sealing: .testing)
        try await store.execute("UPDATE cache_entries SET task = NULL, model_version = NULL, scope_tag = NULL, created_at = NULL, bytes = NULL WHERE key = ?",
                                [.blob(ByteBuffer(bytes: key.bytes))])
    }

    @Test func migratesAFileFromBeforeTheMetadataColumns() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let path = directory.appendingPathComponent("cache.sqlite").path
        let old = try await SQLiteConnection.open(storage: .file(path: path))
        _ = try await old.query("CREATE TABLE cache_entries (key BLOB PRIMARY KEY NOT NULL, entry BLOB NOT NULL, retain_until REAL NOT NULL)")
        _ = try await old.query("INSERT INTO cache_entries VALUES (?, ?, ?)",
                                [.blob(ByteBuffer(bytes: Fixture.key(1).bytes)), .blob(ByteBuffer(repeating: 7, count: 300)), .float(4e9)])
        try await old.close()
        let clock = ManualClock()
        let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
        var entry = Fixture.entry(size: 1000, now: clock.now)
        entry.task = "ocr"
        try await store.put(Fixture.key(2), entry, sealing: .testing)
        let usage = try await store.usageByTask()
        #expect(usage.map(\.task) == ["", "ocr"])
        #expect(usage[0].entries == 1 && usage[0].bytes == 300)  // an old row: its stored length
        #expect(usage[1].entries == 1 && usage[1].bytes > 1000)
        #expect(try await store.remove(matching: PurgeFilter(task: "ocr")) == 1)
        #expect(try await store.remove(matching: PurgeFilter(createdBefore: 4e9)) == 0)  // the old row's age is unknown
        #expect(try await store.remove(matching: PurgeFilter(all: true)) == 1)
        try await store.close()
    }

    @Test func reportsMeanAndP99PerTask() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let clock = ManualClock()
        let store = try await SQLiteStore.open(path: directory.appendingPathComponent("cache.sqlite").path, sealer: .testing, clock: clock.wallClock)
        for n in 1...200 {
            var entry = Fixture.entry(size: n * 10, now: clock.now)
            entry.task = "ocr"
            try await store.put(Fixture.key(n), entry, sealing: .testing)
        }
        let usage = try #require(try await store.usageByTask().first)
        // Stored sizes are the body plus a constant (codec fields and seal), so the order is the bodies'.
        let overhead = Int(usage.bytes) / 200 - 1005
        #expect(usage.entries == 200)
        #expect(usage.p99Bytes == 1980 + overhead)  // rank ⌈0.99 × 200⌉ = 198: body 1980
        #expect(abs(usage.meanBytes - Double(1005 + overhead)) < 1)
        try await store.close()
    }
}

@Suite("purges on real Redis", .serialized, .enabled(if: !RedisBackend.available.isEmpty))
struct RedisStorePurgeTests {
    func store(_ backend: RedisBackend) throws -> RedisStore {
        RedisStore(redis: try backend.makeClient(), sealer: .testing,
                   configuration: .init(keyPrefix: "deja-test-\(UUID().uuidString):", publishOnPut: false))
    }

    @Test(arguments: RedisBackend.available)
    func removesWhatTheFilterMatchesThroughTheIndex(_ backend: RedisBackend) async throws {
        let now = Date().timeIntervalSince1970
        for (filter, expected) in PurgeFixture.cases(now: now) {
            let store = try store(backend)
            for (key, entry) in PurgeFixture.entries(now: now) { try await store.put(key, entry, sealing: .testing) }
            #expect(try await store.remove(matching: filter, tasks: ["ocr", "text"]) == expected.count, "\(filter.wireText)")
            for n in 0...8 {
                #expect((try await store.get(Fixture.key(n), sealing: .testing) == nil) == expected.contains(n), "\(filter.wireText) key \(n)")
            }
            _ = try await store.remove(matching: PurgeFilter(all: true), tasks: [])
        }
    }

    @Test(arguments: RedisBackend.available)
    func theIndexListsVersionsAndForgetsPurgedOnes(_ backend: RedisBackend) async throws {
        let now = Date().timeIntervalSince1970
        let store = try store(backend)
        for (key, entry) in PurgeFixture.entries(now: now) { try await store.put(key, entry, sealing: .testing) }
        #expect(try await store.versions(task: "ocr").sorted() == ["v1", "v2"])
        #expect(try await store.remove(matching: PurgeFilter(task: "ocr", modelVersion: "v2"), tasks: []) == 2)
        #expect(try await store.versions(task: "ocr") == ["v1"])
        // Purging again finds nothing: the count is what was there.
        #expect(try await store.remove(matching: PurgeFilter(task: "ocr", modelVersion: "v2"), tasks: []) == 0)
        let usage = try await store.usageByTask(["ocr", "text"])
        #expect(usage.map(\.entries) == [4, 2])
        #expect(usage[0].sampled == 4 && usage[0].p99Bytes > 103)
        #expect(try await store.trimIndex(task: "ocr", createdBefore: now - 86_400) == 2)  // the two old members
        #expect(try await store.usageByTask(["ocr"]).first?.entries == 2)
        #expect(try await store.remove(matching: PurgeFilter(all: true), tasks: []) == 7)
        #expect(try await store.versions(task: "ocr").isEmpty)
    }

    @Test(arguments: RedisBackend.available)
    func measuresThePerKeyOverhead(_ backend: RedisBackend) async throws {
        let overhead = try #require(try await store(backend).perKeyOverhead())
        #expect(overhead > 0 && overhead < 1024)
    }
}
