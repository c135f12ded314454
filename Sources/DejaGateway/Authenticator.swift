import DejaCore
import DejaLedger
import Synchronization

/// Resolves API keys through the ledger, remembering answers briefly so the hit path touches no disk.
///
/// A valid key is remembered for `ttl` seconds, an unknown one for `negativeTTL`. The two are kept
/// apart and bounded separately: valid keys by `capacity` (past it, the longest-remembered goes first),
/// unknown ones by `unknownCapacity` (past it, the unknown ones alone are forgotten), so a flood of
/// bogus keys costs ledger reads but never makes the gateway forget the keys its tenants use.
/// ``forget(keyID:)`` makes a revocation take effect at once: a lookup that started before it cannot
/// put the revoked key back.
public final class Authenticator: Sendable {
    private struct Remembered {
        var info: APIKeyInfo
        var until: Double
    }

    private struct Memory {
        var known: BoundedMap<String, Remembered>
        var unknown: [String: Double] = [:]
        /// Bumped by every revocation; a ledger answer read under an older generation is not remembered.
        var generation: UInt64 = 0
    }

    private let ledger: any Ledger
    private let clock: WallClock
    private let ttl: Double
    private let negativeTTL: Double
    private let unknownCapacity: Int
    private let memory: Mutex<Memory>

    public init(
        ledger: any Ledger, clock: WallClock, ttl: Double = 5, negativeTTL: Double = 1, capacity: Int = 100_000,
        unknownCapacity: Int = 10_000
    ) {
        self.ledger = ledger
        self.clock = clock
        self.ttl = ttl
        self.negativeTTL = negativeTTL
        self.memory = Mutex(Memory(known: BoundedMap(capacity: capacity)))
        self.unknownCapacity = max(1, unknownCapacity)
    }

    /// The key's info, or `nil` when the secret is unknown or revoked.
    public func authenticate(secret: String) async throws -> APIKeyInfo? {
        let now = clock.now()
        enum Known { case valid(APIKeyInfo), unknown, ask(generation: UInt64) }
        let known = memory.withLock { memory -> Known in
            if let remembered = memory.known[secret], remembered.until > now { return .valid(remembered.info) }
            if let until = memory.unknown[secret], until > now { return .unknown }
            return .ask(generation: memory.generation)
        }
        let generation: UInt64
        switch known {
        case .valid(let info): return info
        case .unknown: return nil
        case .ask(let current): generation = current
        }
        let info = try await ledger.authenticate(secret: secret)
        memory.withLock { memory in
            guard memory.generation == generation else { return }  // a revocation came in meanwhile
            if let info {
                memory.known.set(Remembered(info: info, until: now + ttl), for: secret)
            } else {
                if memory.unknown.count >= unknownCapacity {
                    memory.unknown = memory.unknown.filter { $0.value > now }
                    if memory.unknown.count >= unknownCapacity { memory.unknown.removeAll(keepingCapacity: true) }
                }
                memory.unknown[secret] = now + negativeTTL
            }
        }
        return info
    }

    /// The info of a valid key remembered from an earlier request, without touching the ledger; `nil`
    /// when the secret is not remembered (or remembered as unknown), so the caller asks ``authenticate(secret:)``.
    public func remembered(secret: String) -> APIKeyInfo? {
        let now = clock.now()
        return memory.withLock { memory in
            guard let remembered = memory.known[secret], remembered.until > now else { return nil }
            return remembered.info
        }
    }

    /// Forgets the key with this id at once (it was revoked, here or on another instance).
    public func forget(keyID: String) {
        memory.withLock { memory in
            memory.generation &+= 1
            memory.known.filter { $0.info.id != keyID }
        }
    }

    /// Forgets every remembered answer, e.g. when revocations may have been missed.
    public func forgetAll() {
        memory.withLock { memory in
            memory.generation &+= 1
            memory.known.removeAll()
            memory.unknown.removeAll()
        }
    }
}
