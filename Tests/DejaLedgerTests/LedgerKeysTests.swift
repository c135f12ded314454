@testable import DejaLedger
import DejaCore
import Foundation
import Testing

@Suite struct LedgerKeysTests {
    let clock = ManualClock(start: newYear2026)

    @Test(arguments: Backend.enabled)
    func createsAndAuthenticatesKeys(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let (info, secret) = try await ledger.createKey(tenant: "acme", name: "ci")
            #expect(info.tenant == "acme")
            #expect(info.name == "ci")
            #expect(info.createdAt == clock.now)
            #expect(!info.isRevoked)
            #expect(secret.hasPrefix("dk_"))
            #expect(secret.count == 46)
            #expect(info.id.hasPrefix("key_"))
            #expect(info.id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) } && info.id.count == 16)

            #expect(try await ledger.authenticate(secret: secret) == info)
            #expect(try await ledger.authenticate(secret: secret + "x") == nil)
            #expect(try await ledger.authenticate(secret: "dk_unknown") == nil)
            #expect(try await ledger.authenticate(secret: "") == nil)
            #expect(try await ledger.authenticate(secret: secret + String(repeating: "a", count: 5000)) == nil)
        }
    }

    @Test(arguments: Backend.enabled)
    func secretsAndIDsAreUnique(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            var secrets: Set<String> = []
            var ids: Set<String> = []
            for n in 0..<20 {
                let (info, secret) = try await ledger.createKey(tenant: "t", name: "k\(n)")
                secrets.insert(secret)
                ids.insert(info.id)
            }
            #expect(secrets.count == 20)
            #expect(ids.count == 20)
        }
    }

    @Test(arguments: Backend.enabled)
    func listsKeysByTenant(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let a1 = try await ledger.createKey(tenant: "a", name: "one").info
            clock.advance(by: 1)
            let b1 = try await ledger.createKey(tenant: "b", name: "one").info
            clock.advance(by: 1)
            let a2 = try await ledger.createKey(tenant: "a", name: "two").info

            #expect(try await ledger.listKeys(tenant: "a") == [a1, a2])
            #expect(try await ledger.listKeys(tenant: "b") == [b1])
            #expect(try await ledger.listKeys(tenant: "c") == [])
            #expect(try await ledger.listKeys(tenant: nil) == [a1, b1, a2])
        }
    }

    @Test(arguments: Backend.enabled)
    func revokedKeysNoLongerAuthenticate(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let (info, secret) = try await ledger.createKey(tenant: "acme", name: "ci")
            let (other, otherSecret) = try await ledger.createKey(tenant: "acme", name: "prod")
            clock.advance(by: 10)
            #expect(try await ledger.revokeKey(id: info.id))
            #expect(try await ledger.authenticate(secret: secret) == nil)
            #expect(try await ledger.authenticate(secret: otherSecret) == other)

            let listed = try #require(try await ledger.listKeys(tenant: "acme").first { $0.id == info.id })
            #expect(listed.revokedAt == clock.now)

            clock.advance(by: 10)
            #expect(try await ledger.revokeKey(id: info.id))  // still exists; first revocation time kept
            #expect(try await ledger.listKeys(tenant: "acme").first { $0.id == info.id }?.revokedAt == listed.revokedAt)
            #expect(try await ledger.revokeKey(id: "key_000000000000") == false)
        }
    }

    @Test(arguments: Backend.enabled)
    func rejectsAnEmptyTenant(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            let error = try await #require(throws: LedgerError.self) {
                try await ledger.createKey(tenant: "", name: "x")
            }
            #expect(error.code == .invalidArgument)
        }
    }
}
