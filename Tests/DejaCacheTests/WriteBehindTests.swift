import DejaCache
import DejaCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Testing

/// Answers written to the SQLite tier behind their response: read back while queued, written in order,
/// never after a later removal, all written before the file closes. Another connection holding the
/// file's write lock keeps a queued write waiting, so "while queued" is a state the tests can hold. That
/// connection runs on a thread pool of its own, and the tests one at a time: a waiting write holds a
/// thread of the shared pool, which the lock's release must not queue behind.
@Suite(.serialized) struct WriteBehindTests {
    let clock = ManualClock()

    /// A store over a new file, a tiered store in front of it whose memory keeps nothing (so every read
    /// reaches the SQLite tier), and a second connection to the same file for the test's own use.
    func withStores(_ body: (SQLiteStore, TieredStore, SQLiteConnection, String) async throws -> Void) async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        let path = directory.appendingPathComponent("cache.sqlite").path
        let sqlite = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
        let tiered = TieredStore(l1: MemoryStore(budget: 0, clock: clock.wallClock), l2: sqlite)
        let threads = NIOThreadPool(numberOfThreads: 1)
        threads.start()
        let other = try await SQLiteConnection.open(storage: .file(path: path), threadPool: threads, logger: Logger(label: "test"), on: MultiThreadedEventLoopGroup.singleton.any())
        try await body(sqlite, tiered, other, path)
        try await other.close()
        try? await sqlite.close()
        try await threads.shutdownGracefully()
    }

    /// Ends the other connection's transaction (and with it the lock) after `delay`.
    func commit(_ connection: SQLiteConnection, after delay: Duration) async throws {
        try await Task.sleep(for: delay)
        _ = try await connection.query("COMMIT")
    }

    func rows(_ connection: SQLiteConnection, _ key: CacheKey) async throws -> Int {
        let rows = try await connection.query(
            "SELECT count(*) AS n FROM cache_entries WHERE key = ?", [.blob(ByteBuffer(bytes: key.bytes))])
        return rows.first?.column("n")?.integer ?? -1
    }

    @Test func aQueuedAnswerIsReadBeforeItIsWritten() async throws {
        try await withStores { sqlite, tiered, other, _ in
            let entry = Fixture.entry(now: clock.now)
            _ = try await other.query("BEGIN IMMEDIATE")  // the write waits for this lock
            try await tiered.put(Fixture.key(1), entry, sealing: .testing)
            #expect(try await rows(other, Fixture.key(1)) == 0)  // not written yet
            #expect(try await tiered.get(Fixture.key(1), sealing: .testing) == entry)
            #expect(try await sqlite.get(Fixture.key(1), sealing: .testing) == entry)
            // As the written row would: not for another sealing digest, not past its retention.
            #expect(try await sqlite.get(Fixture.key(1), sealing: SealingDigest(Fixture.key(99))) == nil)
            _ = try await other.query("COMMIT")
            await sqlite.writesSettled()
            #expect(try await rows(other, Fixture.key(1)) == 1)
            #expect(try await tiered.get(Fixture.key(1), sealing: .testing) == entry)
        }
    }

    @Test func laterAnswersLandLast() async throws {
        try await withStores { sqlite, tiered, other, _ in
            let first = Fixture.entry(now: clock.now, fill: 0x41), second = Fixture.entry(now: clock.now, fill: 0x42)
            _ = try await other.query("BEGIN IMMEDIATE")
            try await tiered.put(Fixture.key(1), first, sealing: .testing)
            try await tiered.put(Fixture.key(1), second, sealing: .testing)
            #expect(try await sqlite.get(Fixture.key(1), sealing: .testing) == second)
            _ = try await other.query("COMMIT")
            await sqlite.writesSettled()
            #expect(try await sqlite.get(Fixture.key(1), sealing: .testing) == second)
        }
    }

    /// Answers queued together are written together (one statement per batch): every one of them, the
    /// last answer for a key winning, one already past its retention deleting its key instead.
    @Test func answersQueuedTogetherAreAllWritten() async throws {
        try await withStores { sqlite, tiered, other, _ in
            try await tiered.put(Fixture.key(500), Fixture.entry(now: clock.now), sealing: .testing)
            await sqlite.writesSettled()
            _ = try await other.query("BEGIN IMMEDIATE")
            for n in 0..<200 {
                try await tiered.put(Fixture.key(n), Fixture.entry(now: clock.now, fill: UInt8(n % 200)), sealing: .testing)
            }
            let last = Fixture.entry(now: clock.now, fill: 0xEE)
            try await tiered.put(Fixture.key(7), last, sealing: .testing)
            let gone = Fixture.entry(now: clock.now - 100, ttl: 10)  // retained until 90 s ago
            await sqlite.putBehind(Fixture.key(500), gone, sealing: .testing)
            #expect(try await rows(other, Fixture.key(0)) == 0)
            _ = try await other.query("COMMIT")
            await sqlite.writesSettled()
            let written = try await other.query("SELECT count(*) AS n FROM cache_entries")
            #expect(written.first?.column("n")?.integer == 200)
            #expect(try await sqlite.get(Fixture.key(7), sealing: .testing) == last)
            #expect(try await sqlite.get(Fixture.key(199), sealing: .testing) == Fixture.entry(now: clock.now, fill: 199))
            #expect(try await rows(other, Fixture.key(500)) == 0)
        }
    }

    @Test func aRemovalWaitsForTheAnswersQueuedBeforeIt() async throws {
        try await withStores { sqlite, tiered, other, _ in
            _ = try await other.query("BEGIN IMMEDIATE")
            try await tiered.put(Fixture.key(1), Fixture.entry(now: clock.now), sealing: .testing)
            try await tiered.put(Fixture.key(2), Fixture.entry(now: clock.now), sealing: .testing)
            try await tiered.put(Fixture.key(3), Fixture.entry(now: clock.now), sealing: .testing)
            async let removed: Void = tiered.remove(Fixture.key(1))
            async let purged = sqlite.remove(matching: PurgeFilter(key: Fixture.key(2)))
            async let cleared: Void = commit(other, after: .milliseconds(20))
            try await cleared
            try await removed
            #expect(try await purged == 1)
            // Neither queued answer was written after the removal that came later.
            #expect(try await rows(other, Fixture.key(1)) == 0)
            #expect(try await rows(other, Fixture.key(2)) == 0)
            #expect(try await sqlite.get(Fixture.key(1), sealing: .testing) == nil)
            #expect(try await sqlite.get(Fixture.key(2), sealing: .testing) == nil)
            #expect(try await rows(other, Fixture.key(3)) == 1)
        }
    }

    @Test func closingWritesWhatIsQueued() async throws {
        try await withStores { sqlite, tiered, other, path in
            let entry = Fixture.entry(now: clock.now)
            _ = try await other.query("BEGIN IMMEDIATE")
            try await tiered.put(Fixture.key(1), entry, sealing: .testing)
            async let closed: Void = sqlite.close()
            async let released: Void = commit(other, after: .milliseconds(20))
            try await released
            try await closed
            let reopened = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            #expect(try await reopened.get(Fixture.key(1), sealing: .testing) == entry)
            try await reopened.close()
        }
    }
}
