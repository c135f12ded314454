import DejaCore
import DejaLedger
import NIOCore

/// What the gateway answers a task request with; the server turns it into an HTTP response.
public struct TaskResponse: Sendable {
    /// HTTP status.
    public var status: Int
    /// How the answer was produced (`x-deja-cache`); `nil` when the request failed before a cache decision.
    public var outcome: Outcome?
    /// The content key (`x-deja-key`), when the request got that far.
    public var key: CacheKey?
    /// Tokens the answer is worth (`x-deja-tokens`).
    public var tokens: Int64
    /// Tokens billed for this request (`x-deja-billed-tokens`).
    public var billed: Int64
    /// The model version that produced the answer (`x-deja-model-version`).
    public var modelVersion: String?
    /// Seconds since the answer was produced (`age`), on answers served from cache.
    public var age: Int?
    /// Sensitive matches masked in the answer (`x-deja-redacted`); 0 for an answer as the model wrote it.
    public var redacted = 0
    /// Pages of a document answered from the page memo (`x-deja-page-memo`), when the whole answer was put together from them.
    public var pagesFromMemo: Int?
    /// Seconds to wait before retrying (`Retry-After`), on overload.
    public var retryAfter: Int?
    /// Deja's own words for an error whose body the protocol words its own way (`x-deja-error`).
    public var detail: String?
    /// True when this is the stored answer to an earlier request with the same `Idempotency-Key`.
    public var replayed = false
    /// Media type of the body.
    public var contentType: String
    /// The body, as buffers written in order.
    public var body: [ByteBuffer]

    public init(
        status: Int,
        outcome: Outcome?,
        key: CacheKey?,
        tokens: Int64 = 0,
        billed: Int64 = 0,
        modelVersion: String? = nil,
        age: Int? = nil,
        retryAfter: Int? = nil,
        contentType: String = "application/json",
        body: [ByteBuffer]
    ) {
        self.status = status
        self.outcome = outcome
        self.key = key
        self.tokens = tokens
        self.billed = billed
        self.modelVersion = modelVersion
        self.age = age
        self.retryAfter = retryAfter
        self.contentType = contentType
        self.body = body
    }
}
