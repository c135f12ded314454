import Crypto
import DejaCore
import NIOCore
import Synchronization

/// Remembers which content key a byte-identical request body resolved to, so a repeat costs one
/// SHA-256 pass over the body instead of a full canonicalisation.
///
/// Sound because canonicalisation is a pure function of (task policy, scope, body bytes), all of which
/// are in the memo's own digest, and so is a gray release's choice of version (a function of the
/// canonical form and the configuration, which does not change while the memo lives). Sharded and bounded: a full shard is cleared, never grown.
public final class KeyMemo: Sendable {
    private final class Shard: Sendable {
        let map = Mutex<[CacheKey: Remembered]>([:])
    }

    private let shards: [Shard]
    private let perShard: Int

    /// - Parameter capacity: how many bodies to remember in all.
    public init(capacity: Int = 100_000, shardCount: Int = 16) {
        self.shards = (0..<max(1, shardCount)).map { _ in Shard() }
        self.perShard = max(1, capacity / shardCount)
    }

    /// The digest that names a raw body within a task and scope.
    public static func bodyDigest(task: String, scope: String, body: ByteBuffer) -> CacheKey {
        var hasher = BodyHasher(task: task, scope: scope)
        hasher.update(body)
        return hasher.finalize()
    }

    /// Computes ``bodyDigest(task:scope:body:)`` over a body that arrives in parts, without joining them.
    public struct BodyHasher {
        private var hasher = SHA256()

        public init(task: String, scope: String) {
            self.init(prefix: Self.prefix(task: task, scope: scope))
        }

        /// Starts from a prefix made once by ``prefix(task:scope:)``, for a caller hashing many bodies.
        public init(prefix: [UInt8]) {
            hasher.update(data: prefix)
        }

        /// The bytes every body digest of `task` and `scope` starts with.
        public static func prefix(task: String, scope: String) -> [UInt8] {
            Array("deja-memo-v1\u{0}\(task)\u{0}\(scope)\u{0}".utf8)
        }

        public mutating func update(_ part: ByteBuffer) {
            part.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            hasher.update(bufferPointer: bytes)
        }

        public func finalize() -> CacheKey {
            CacheKey(digest: hasher.finalize())
        }
    }

    /// The content key remembered for a body digest, if any.
    public func key(for bodyDigest: CacheKey) -> CacheKey? {
        remembered(bodyDigest)?.key
    }

    /// What a body was found to be: its content key, the digest that opens its stored answer, and the
    /// id its answers echo. Kept in memory only, like the in-memory tier's answers.
    public struct Remembered: Sendable, Equatable {
        public var key: CacheKey
        public var sealing: SealingDigest
        public var echo: String?
        /// Which version of the task's gray release answers it (``GrayRelease/Choice/stable`` without one).
        public var choice: GrayRelease.Choice = .stable
    }

    /// What the body with this digest was found to be, if it is remembered.
    public func remembered(_ bodyDigest: CacheKey) -> Remembered? {
        shard(bodyDigest).map.withLock { $0[bodyDigest] }
    }

    public func remember(
        _ bodyDigest: CacheKey, resolvesTo key: CacheKey, sealing: SealingDigest, echo: String? = nil, choice: GrayRelease.Choice = .stable
    ) {
        let limit = perShard
        shard(bodyDigest).map.withLock { map in
            if map.count >= limit { map.removeAll(keepingCapacity: true) }
            map[bodyDigest] = Remembered(key: key, sealing: sealing, echo: echo, choice: choice)
        }
    }

    private func shard(_ digest: CacheKey) -> Shard {
        shards[Int(digest.prefix64 % UInt64(shards.count))]
    }
}
