import Crypto
import NIOCore

/// One stored answer: what the model returned for the request a ``CacheKey`` names.
///
/// `body` is the answer as it is sent to clients, minus per-request fields (PaddleX's `logId`), and is
/// shared, never copied, when the entry is served.
public struct CacheEntry: Sendable, Equatable {
    /// The answer bytes.
    public var body: ByteBuffer
    /// The answer's media type, e.g. `application/json`.
    public var contentType: String
    /// HTTP status the answer was produced with (200 for answers; a 4xx for a cached rejection).
    public var status: Int
    /// The model version that produced the answer.
    public var modelVersion: String
    /// Tokens the answer is worth by the task's meter.
    public var meteredTokens: Int64
    /// Seconds the upstream call took; what a hit saves in model time.
    public var upstreamSeconds: Double
    /// When the answer was produced, seconds since 1970.
    public var createdAt: Double
    /// Until when the answer is fresh, seconds since 1970.
    public var expiresAt: Double
    /// Until when a store keeps the entry at all (at least `expiresAt`); room for serving stale answers.
    public var retainUntil: Double
    /// Names the tenant whose request produced the answer (``producerTag(tenant:)``); 0 when unknown.
    /// Read only to tell a tenant's own answers from others' in a shared scope.
    public var producer: UInt64
    /// How many sensitive matches were masked in this stored copy of the answer (`x-deja-redacted`).
    public var redactions: Int
    /// The task that produced the answer, for purges and capacity reports; empty when unknown (an entry
    /// written before entries carried it).
    public var task: String
    /// Names the key's scope field (``scopeTag(scopeField:)``); 0 when unknown. Lets a purge select one
    /// tenant's entries without tenant names stored beside answers.
    public var scopeTag: UInt64

    public init(
        body: ByteBuffer,
        contentType: String = "application/json",
        status: Int = 200,
        modelVersion: String,
        meteredTokens: Int64,
        upstreamSeconds: Double = 0,
        createdAt: Double,
        expiresAt: Double,
        retainUntil: Double? = nil,
        producer: UInt64 = 0,
        redactions: Int = 0,
        task: String = "",
        scopeTag: UInt64 = 0
    ) {
        self.body = body
        self.contentType = contentType
        self.status = status
        self.modelVersion = modelVersion
        self.meteredTokens = meteredTokens
        self.upstreamSeconds = upstreamSeconds
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.retainUntil = max(retainUntil ?? expiresAt, expiresAt)
        self.producer = producer
        self.redactions = redactions
        self.task = task
        self.scopeTag = scopeTag
    }

    /// The first 64 bits of SHA-256 over a domain tag and `tenant`: enough to tell tenants apart,
    /// without keeping tenant names beside answers.
    public static func producerTag(tenant: String) -> UInt64 {
        tag(domain: "deja-producer-v1", tenant)
    }

    /// The first 64 bits of SHA-256 over a domain tag and a key's scope field (`shared` or
    /// `tenant:<id>`, ``CacheScope/keyField(tenant:)``): what ``scopeTag`` holds. Never 0 in practice,
    /// which stays "unknown".
    public static func scopeTag(scopeField: String) -> UInt64 {
        tag(domain: "deja-scope-v1", scopeField)
    }

    private static func tag(domain: String, _ text: String) -> UInt64 {
        var hasher = SHA256()
        hasher.update(data: Array("\(domain)\u{0}\(text)".utf8))
        return hasher.finalize().withUnsafeBytes { raw in
            raw.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    /// Whether the entry is still fresh at `now`.
    @inlinable
    public func isFresh(at now: Double) -> Bool { now < expiresAt }

    /// Age in whole seconds at `now`, as sent in the `age` header.
    @inlinable
    public func age(at now: Double) -> Int { max(0, Int(now - createdAt)) }

    /// Bytes this entry is charged against a memory budget: the body plus a fixed allowance for the rest.
    public var chargedBytes: Int { body.readableBytes + contentType.utf8.count + modelVersion.utf8.count + 128 }
}
