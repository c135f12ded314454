/// One line of a usage report: the requests of one group of the query's ``UsageQuery/groupBy`` dimensions
/// (by default one tenant's requests for one task on one UTC day).
public struct UsageRow: Sendable, Equatable, Codable {
    /// The tenant the row counts; `nil` when the report is not grouped by tenant.
    public var tenant: String?
    /// The task (route) name; empty when the report is not grouped by task.
    public var task: String
    /// The UTC day, `YYYY-MM-DD`; empty when the report is not grouped by day.
    public var day: String
    /// The API key's id; `nil` when the report is not grouped by key.
    public var keyID: String?
    /// The UTC hour, `YYYY-MM-DDTHH:00Z`; `nil` when the report is not grouped by hour.
    public var hour: String?
    /// The HTTP status sent; `nil` when the report is not grouped by status.
    public var status: Int?
    /// All requests, errors included.
    public var requests: Int64
    /// Requests answered from cache.
    public var hits: Int64
    /// Requests that shared an identical in-flight miss.
    public var coalesced: Int64
    /// Requests answered by the model.
    public var misses: Int64
    /// Requests that failed.
    public var errors: Int64
    /// Tokens billed.
    public var billedTokens: Int64
    /// Metered minus billed tokens over answers served from cache (hit, coalesced, stale).
    public var savedTokens: Int64
    /// Model seconds saved by answers served from cache (hit, coalesced, stale).
    public var modelSecondsSaved: Double
    /// `(hits + coalesced) / (requests - errors)`; 0 when every request failed.
    public var hitRatio: Double

    /// Creates a row.
    public init(
        tenant: String?,
        task: String,
        day: String,
        requests: Int64,
        hits: Int64,
        coalesced: Int64,
        misses: Int64,
        errors: Int64,
        billedTokens: Int64,
        savedTokens: Int64,
        modelSecondsSaved: Double,
        hitRatio: Double,
        keyID: String? = nil,
        hour: String? = nil,
        status: Int? = nil
    ) {
        self.tenant = tenant
        self.task = task
        self.day = day
        self.requests = requests
        self.hits = hits
        self.coalesced = coalesced
        self.misses = misses
        self.errors = errors
        self.billedTokens = billedTokens
        self.savedTokens = savedTokens
        self.modelSecondsSaved = modelSecondsSaved
        self.hitRatio = hitRatio
        self.keyID = keyID
        self.hour = hour
        self.status = status
    }
}
