import DejaCore

/// One answered request, as written to the ledger.
public struct UsageRecord: Sendable, Equatable {
    /// When the request was answered, seconds since 1970.
    public var time: Double
    /// The tenant that owns the API key.
    public var tenant: String
    /// The API key's id (never its secret).
    public var keyID: String
    /// The task (route) name.
    public var task: String
    /// How the request was answered.
    public var outcome: Outcome
    /// Tokens the answer is worth by the task's meter.
    public var meteredTokens: Int64
    /// Tokens billed for this request.
    public var billedTokens: Int64
    /// Time to answer, in microseconds.
    public var latencyMicros: Int64
    /// HTTP status sent to the client.
    public var status: Int
    /// Model time this request consumed (miss) or saved (hit), in seconds.
    public var modelSeconds: Double
    /// The content key of what was asked, when the request got that far; what ``Ledger/repeatedKeys(_:)``
    /// counts. A digest: it names the request without revealing it.
    public var contentKey: CacheKey?

    /// Creates a record.
    public init(
        time: Double,
        tenant: String,
        keyID: String,
        task: String,
        outcome: Outcome,
        meteredTokens: Int64,
        billedTokens: Int64,
        latencyMicros: Int64,
        status: Int = 200,
        modelSeconds: Double = 0,
        contentKey: CacheKey? = nil
    ) {
        self.time = time
        self.tenant = tenant
        self.keyID = keyID
        self.task = task
        self.outcome = outcome
        self.meteredTokens = meteredTokens
        self.billedTokens = billedTokens
        self.latencyMicros = latencyMicros
        self.status = status
        self.modelSeconds = modelSeconds
        self.contentKey = contentKey
    }
}
