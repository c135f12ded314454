import DejaLedger
import Synchronization

/// Resolves API keys through the ledger, remembering answers briefly so the hit path touches no disk.
///
/// A known key is remembered for `ttl` seconds, an unknown one for `negativeTTL`; a revocation takes
/// effect within `ttl`. The memory is bounded by `capacity` secrets.
public final class Authenticator: Sendable {
    private struct Remembered {
        var info: APIKeyInfo?
        var until: Double
    }

    private let ledger: any Ledger
    private let clock: WallClock
    private let ttl: Double
    private let negativeTTL: Double
    private let capacity: Int
    private let memory = Mutex<[String: Remembered]>([:])

    public init(ledger: any Ledger, clock: WallClock, ttl: Double = 5, negativeTTL: Double = 1, capacity: Int = 10_000) {
        self.ledger = ledger
        self.clock = clock
        self.ttl = ttl
        self.negativeTTL = negativeTTL
        self.capacity = capacity
    }

    /// The key's info, or `nil` when the secret is unknown or revoked.
    public func authenticate(secret: String) async throws -> APIKeyInfo? {
        let now = clock.now()
        if let remembered = memory.withLock({ $0[secret] }), remembered.until > now {
            return remembered.info
        }
        let info = try await ledger.authenticate(secret: secret)
        let until = now + (info == nil ? negativeTTL : ttl)
        memory.withLock { memory in
            if memory.count >= capacity { memory.removeAll(keepingCapacity: true) }
            memory[secret] = Remembered(info: info, until: until)
        }
        return info
    }

    /// The info of a valid key remembered from an earlier request, without touching the ledger; `nil`
    /// when the secret is not remembered (or remembered as unknown), so the caller asks ``authenticate(secret:)``.
    public func remembered(secret: String) -> APIKeyInfo? {
        let now = clock.now()
        guard let remembered = memory.withLock({ $0[secret] }), remembered.until > now else { return nil }
        return remembered.info
    }

    /// Forgets every remembered answer, e.g. after a revocation through the admin API.
    public func forgetAll() {
        memory.withLock { $0.removeAll() }
    }
}

import DejaCore
