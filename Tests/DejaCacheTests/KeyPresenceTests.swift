@testable import DejaCache
import DejaCore
import Foundation
import Testing

/// The SQLite tier's memory of which keys its file holds (``KeyPresence``): a key it does not name is
/// answered as absent without asking SQLite, so it must never lose a key the file holds.
@Suite struct KeyPresenceTests {
    let clock = ManualClock()

    // MARK: The set alone

    @Test func whileLoadingEveryKeyMayBeHeld() {
        var presence = KeyPresence(tracking: true)
        #expect(presence.mayHold(Fixture.key(1)))
        presence.stored(Fixture.key(2))
        presence.loaded([KeyPresence.prefix(Fixture.key(3))])
        #expect(!presence.mayHold(Fixture.key(1)))
        #expect(presence.mayHold(Fixture.key(2)))  // stored while loading
        #expect(presence.mayHold(Fixture.key(3)))  // found in the file
    }

    @Test func aStoreThatDoesNotTrackAsksForEveryKey() {
        var presence = KeyPresence(tracking: false)
        presence.loaded([])
        #expect(presence.mayHold(Fixture.key(1)))
    }

    @Test func aKeyStoredWhileADeletionRunsOutlivesIt() {
        var presence = KeyPresence(tracking: true)
        presence.loaded([])
        presence.stored(Fixture.key(1))
        presence.stored(Fixture.key(2))
        presence.deletionStarts()
        presence.stored(Fixture.key(1))  // an answer stored again while the statement deleting the old one runs
        presence.deletionEnded(deleted: [KeyPresence.prefix(Fixture.key(1)), KeyPresence.prefix(Fixture.key(2))])
        #expect(presence.mayHold(Fixture.key(1)))
        #expect(!presence.mayHold(Fixture.key(2)))
        // Once no deletion runs, a deletion forgets what it deleted.
        presence.deletionStarts()
        presence.deletionEnded(deleted: [KeyPresence.prefix(Fixture.key(1))])
        #expect(!presence.mayHold(Fixture.key(1)))
    }

    @Test func clearingKeepsOnlyWhatWasStoredMeanwhile() {
        var presence = KeyPresence(tracking: true)
        presence.loaded([KeyPresence.prefix(Fixture.key(1)), KeyPresence.prefix(Fixture.key(2))])
        presence.deletionStarts()
        presence.stored(Fixture.key(3))
        presence.deletionEnded(deleted: nil)
        #expect(!presence.mayHold(Fixture.key(1)))
        #expect(!presence.mayHold(Fixture.key(2)))
        #expect(presence.mayHold(Fixture.key(3)))
    }

    @Test func aFailedDeletionForgetsNothing() {
        var presence = KeyPresence(tracking: true)
        presence.loaded([KeyPresence.prefix(Fixture.key(1))])
        presence.deletionStarts()
        presence.deletionEnded(deleted: [])
        #expect(presence.mayHold(Fixture.key(1)))
    }

    @Test func pastItsLimitTheSetIsDroppedAndEveryKeyAsked() {
        var presence = KeyPresence(tracking: true, limit: 2)
        presence.loaded([KeyPresence.prefix(Fixture.key(1))])
        presence.stored(Fixture.key(2))
        #expect(!presence.mayHold(Fixture.key(9)))
        presence.stored(Fixture.key(3))
        #expect(presence.state == .off)
        #expect(presence.mayHold(Fixture.key(9)))
    }

    @Test func keysThatDifferInAnyWordAreKeptApart() {
        // The fixture's keys share their first 24 bytes; real keys are digests. Neither collides.
        let prefixes = Set((0..<1000).map { KeyPresence.prefix(Fixture.key($0)) })
        #expect(prefixes.count == 1000)
        var bytes = [UInt8](repeating: 0, count: 32)
        let zero = KeyPresence.prefix(CacheKey(bytes: bytes)!)
        for index in [0, 7, 8, 15, 16, 31] {
            bytes = [UInt8](repeating: 0, count: 32)
            bytes[index] = 1
            #expect(KeyPresence.prefix(CacheKey(bytes: bytes)!) != zero)
        }
    }

    // MARK: A store that keeps its keys

    /// Another writer's row is invisible to a store that keeps its keys: proof that a key it does not
    /// hold is answered without reading the file. A store that does not keep them reads it.
    @Test func aKeyTheStoreDidNotWriteIsNotLookedUp() async throws {
        try await Fixture.withCacheFile { path in
            let tracking = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock, tracksKeys: true)
            await tracking.keysLoaded()
            let other = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let entry = Fixture.entry(now: clock.now)
            try await other.put(Fixture.key(1), entry, sealing: .testing)
            #expect(try await other.get(Fixture.key(1), sealing: .testing) == entry)
            #expect(try await tracking.get(Fixture.key(1), sealing: .testing) == nil)
            try await other.close()
            try await tracking.close()
        }
    }

    @Test func keysWrittenBeforeOpeningAreFound() async throws {
        try await Fixture.withCacheFile { path in
            let entry = Fixture.entry(now: clock.now)
            let first = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock, tracksKeys: true)
            try await first.put(Fixture.key(1), entry, sealing: .testing)
            await first.putBehind(Fixture.key(2), entry, sealing: .testing)
            try await first.close()
            let reopened = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock, tracksKeys: true)
            await reopened.keysLoaded()
            #expect(reopened.presence.withLock { $0.state } == .ready)
            #expect(try await reopened.get(Fixture.key(1), sealing: .testing) == entry)
            #expect(try await reopened.get(Fixture.key(2), sealing: .testing) == entry)
            #expect(try await reopened.get(Fixture.key(3), sealing: .testing) == nil)
            try await reopened.close()
        }
    }

    /// Every way of storing and deleting, in turn, read back as a store that asks SQLite reads it.
    @Test func storesAndDeletionsReadAsTheFileDoes() async throws {
        try await Fixture.withCacheFile { path in
            let store = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock, tracksKeys: true)
            await store.keysLoaded()
            let reference = try await SQLiteStore.open(path: path, sealer: .testing, clock: clock.wallClock)
            let keys = (1...6).map(Fixture.key)
            func expectSameAsFile(_ step: String) async throws {
                await store.writesSettled()
                for key in keys {
                    let read = try await store.get(key, sealing: .testing)
                    let file = try await reference.get(key, sealing: .testing)
                    #expect(read == file, "\(step): key \(keys.firstIndex(of: key)! + 1)")
                }
            }
            let entry = Fixture.entry(now: clock.now), short = Fixture.entry(now: clock.now, ttl: 5)
            try await store.put(keys[0], entry, sealing: .testing)
            await store.putBehind(keys[1], entry, sealing: .testing)
            await store.putBehind(keys[2], short, sealing: .testing)
            try await store.put(keys[3], entry, sealing: .testing)
            await store.putBehind(keys[4], entry, sealing: .testing)
            try await expectSameAsFile("stored")
            try await store.remove(keys[0])
            try await expectSameAsFile("removed")
            #expect(try await store.remove(matching: PurgeFilter(key: keys[1])) == 1)
            try await expectSameAsFile("purged by key")
            clock.advance(by: 10)
            #expect(try await store.purgeExpired() == 1)
            try await expectSameAsFile("expired purged")
            try await store.put(keys[0], entry, sealing: .testing)
            await store.putBehind(keys[1], entry, sealing: .testing)
            try await expectSameAsFile("stored again")
            try await store.removeAll()
            try await expectSameAsFile("cleared")
            await store.putBehind(keys[5], entry, sealing: .testing)
            try await expectSameAsFile("stored after clearing")
            #expect(try await store.get(keys[5], sealing: .testing) == entry)
            try await reference.close()
            try await store.close()
        }
    }
}
