import DejaCache
import DejaCore
import Foundation
import NIOCore
import SQLiteNIO
import Testing

@Suite struct SQLiteStoreTests {
    let clock = ManualClock()

    /// Runs `body` with a cache file path in a fresh temporary directory, removed afterwards.
    func withCacheFile(_ body: (String) async throws -> Void) async throws {
        try await Fixture.withCacheFile(body)
    }

    @Test func storesReadsAndRemoves() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let entry = Fixture.entry(now: clock.now)
            try await store.put(Fixture.key(1), entry, sealing: .testing)
            try await store.put(Fixture.key(2), entry, sealing: .testing)
            #expect(try await store.get(Fixture.key(1), sealing: .testing) == entry)
            #expect(try await store.get(Fixture.key(3), sealing: .testing) == nil)
            #expect(try await store.count() == 2)

            try await store.remove(Fixture.key(1))
            #expect(try await store.get(Fixture.key(1), sealing: .testing) == nil)
            #expect(try await store.get(Fixture.key(2), sealing: .testing) != nil)

            try await store.removeAll()
            #expect(try await store.count() == 0)
            try await store.close()
        }
    }

    @Test func replacesAnEntry() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await store.put(Fixture.key(1), Fixture.entry(size: 3, now: clock.now, fill: 1), sealing: .testing)
            let newer = Fixture.entry(size: 9, now: clock.now, fill: 2)
            try await store.put(Fixture.key(1), newer, sealing: .testing)
            #expect(try await store.get(Fixture.key(1), sealing: .testing) == newer)
            #expect(try await store.count() == 1)
            try await store.close()
        }
    }

    @Test func survivesARestartByteForByte() async throws {
        try await withCacheFile { path in
            var body = ByteBuffer()
            body.writeBytes((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let entry = CacheEntry(
                body: body,
                contentType: "application/json; charset=ütf-8",
                status: 200,
                modelVersion: "PP-OCRv4",
                meteredTokens: 99,
                upstreamSeconds: 1.5,
                createdAt: clock.now,
                expiresAt: clock.now + 3600,
                retainUntil: clock.now + 7200
            )
            let first = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await first.put(Fixture.key(1), entry, sealing: .testing)
            try await first.close()

            let second = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let restored = try #require(try await second.get(Fixture.key(1), sealing: .testing))
            #expect(restored == entry)
            #expect(Array(restored.body.readableBytesView) == Array(body.readableBytesView))
            #expect(restored.encoded() == entry.encoded())
            try await second.close()
        }
    }

    @Test func doesNotReturnEntriesPastRetention() async throws {
        try await withCacheFile { path in
            let first = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await first.put(Fixture.key(1), Fixture.entry(now: clock.now, ttl: 10, extra: 10), sealing: .testing)
            try await first.put(Fixture.key(2), Fixture.entry(now: clock.now, ttl: 1000), sealing: .testing)
            try await first.close()

            clock.advance(by: 15)  // key 1 is stale but retained
            let second = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let stale = try #require(try await second.get(Fixture.key(1), sealing: .testing))
            #expect(!stale.isFresh(at: clock.now))

            clock.advance(by: 5)  // key 1 is past retainUntil
            #expect(try await second.get(Fixture.key(1), sealing: .testing) == nil)
            #expect(try await second.get(Fixture.key(2), sealing: .testing) != nil)
            #expect(try await second.count() == 1)
            try await second.close()
        }
    }

    @Test func purgesExpiredEntries() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            for n in 0..<10 {
                try await store.put(Fixture.key(n), Fixture.entry(now: clock.now, ttl: n < 6 ? 10 : 1000), sealing: .testing)
            }
            clock.advance(by: 100)
            #expect(try await store.purgeExpired() == 6)
            #expect(try await store.purgeExpired() == 0)
            #expect(try await store.count() == 4)
            try await store.close()
        }
    }

    @Test func ignoresAnAlreadyExpiredPut() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await store.put(Fixture.key(1), Fixture.entry(now: clock.now - 100, ttl: 10), sealing: .testing)
            #expect(try await store.get(Fixture.key(1), sealing: .testing) == nil)
            try await store.close()
        }
    }

    @Test func treatsACorruptEntryAsAMissAndDropsIt() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await store.put(Fixture.key(1), Fixture.entry(now: clock.now), sealing: .testing)
            try await store.put(Fixture.key(2), Fixture.entry(now: clock.now), sealing: .testing)

            // Garble the stored bytes from outside, as a disk fault or an older layout would.
            let raw = try await SQLiteConnection.open(storage: .file(path: path))
            _ = try await raw.query(
                "UPDATE cache_entries SET entry = ? WHERE key = ?",
                [.blob(ByteBuffer(bytes: [0xDE, 0x01, 0xFF])), .blob(ByteBuffer(bytes: Fixture.key(1).bytes))]
            )
            _ = try await raw.query(
                "UPDATE cache_entries SET entry = 'not a blob' WHERE key = ?",
                [.blob(ByteBuffer(bytes: Fixture.key(2).bytes))]
            )
            try await raw.close()

            #expect(try await store.get(Fixture.key(1), sealing: .testing) == nil)
            #expect(try await store.get(Fixture.key(2), sealing: .testing) == nil)
            #expect(try await store.count() == 0)
            // A fresh put after the corruption works.
            try await store.put(Fixture.key(1), Fixture.entry(now: clock.now), sealing: .testing)
            #expect(try await store.get(Fixture.key(1), sealing: .testing) != nil)
            try await store.close()
        }
    }

    @Test func handlesConcurrentPutsAndGets() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let now = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<100 {
                    group.addTask {
                        let entry = Fixture.entry(size: n, now: now, fill: UInt8(n))
                        try await store.put(Fixture.key(n), entry, sealing: .testing)
                        #expect(try await store.get(Fixture.key(n), sealing: .testing) == entry)
                        _ = try await store.get(Fixture.key((n + 50) % 100), sealing: .testing)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.count() == 100)
            for n in 0..<100 {
                #expect(try await store.get(Fixture.key(n), sealing: .testing)?.body.readableBytes == n)
            }
            try await store.close()
        }
    }

    @Test func throwsClosedAfterClose() async throws {
        try await withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            try await store.close()
            try await store.close()
            let error = try await #require(throws: CacheStoreError.self) { try await store.get(Fixture.key(1), sealing: .testing) }
            #expect(error.code == .closed)
        }
    }

    @Test func failsToOpenAFileThatIsNotADatabase() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let path = directory.appendingPathComponent("garbage.sqlite").path
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = try await #require(throws: CacheStoreError.self) {
            try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
        }
        #expect(error.code == .storageFailed)
    }
}
