import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import Logging
import Testing

/// The authenticator's memory: bounded without forgetting good keys, and revocations at once.
@Suite struct AuthenticatorTests {
    struct Fixture {
        let clock = ManualClock()
        let folder = NSTemporaryDirectory() + "deja-auth-\(UUID().uuidString)"
        let ledger: SQLiteLedger

        init() async throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            ledger = try await SQLiteLedger.open(path: folder + "/ledger.sqlite", clock: clock.wallClock, logger: Logger(label: "test"))
        }

        func close() async throws {
            try await ledger.close()
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    @Test func aFloodOfUnknownKeysDoesNotForgetTheKnownOnes() async throws {
        let f = try await Fixture()
        let authenticator = Authenticator(ledger: f.ledger, clock: f.clock.wallClock, ttl: 60, capacity: 100, unknownCapacity: 10)
        let (info, secret) = try await f.ledger.createKey(tenant: "acme", name: "good")
        #expect(try await authenticator.authenticate(secret: secret) == info)
        for n in 0..<500 {
            #expect(try await authenticator.authenticate(secret: "dj_bogus_\(n)") == nil)
        }
        // Still remembered: the event-loop hit path needs no ledger read for it.
        #expect(authenticator.remembered(secret: secret) == info)
        try await f.close()
    }

    @Test func knownKeysAreBoundedOldestFirst() async throws {
        let f = try await Fixture()
        let authenticator = Authenticator(ledger: f.ledger, clock: f.clock.wallClock, ttl: 60, capacity: 3)
        var secrets: [String] = []
        for n in 0..<5 {
            let (_, secret) = try await f.ledger.createKey(tenant: "t\(n)", name: "k")
            secrets.append(secret)
            _ = try await authenticator.authenticate(secret: secret)
        }
        #expect(authenticator.remembered(secret: secrets[0]) == nil)
        #expect(authenticator.remembered(secret: secrets[1]) == nil)
        for secret in secrets[2...] { #expect(authenticator.remembered(secret: secret) != nil) }
        try await f.close()
    }

    @Test func aRevokedKeyIsForgottenAtOnce() async throws {
        let f = try await Fixture()
        let authenticator = Authenticator(ledger: f.ledger, clock: f.clock.wallClock, ttl: 60)
        let (info, secret) = try await f.ledger.createKey(tenant: "acme", name: "leaked")
        #expect(try await authenticator.authenticate(secret: secret) == info)
        #expect(try await f.ledger.revokeKey(id: info.id))
        // Without being told, the memory answers for up to its TTL…
        #expect(authenticator.remembered(secret: secret) == info)
        authenticator.forget(keyID: info.id)
        // …told, not a moment longer.
        #expect(authenticator.remembered(secret: secret) == nil)
        #expect(try await authenticator.authenticate(secret: secret) == nil)
        try await f.close()
    }
}
