import DejaCore

/// Which records ``Ledger/repeatedKeys(_:)`` counts.
public struct RepeatedKeysQuery: Sendable, Equatable {
    /// Only this tenant's requests; `nil` for every tenant.
    public var tenant: String?
    /// Only this task's requests; `nil` for every task.
    public var task: String?
    /// Records at or after this time (seconds since 1970); `nil` for no lower bound.
    public var from: Double?
    /// Records before this time (exclusive); `nil` for no upper bound.
    public var to: Double?
    /// Only this content key (the dashboard's page of one key); `nil` for every key.
    public var key: CacheKey?
    /// At most this many keys.
    public var limit: Int

    public init(tenant: String? = nil, task: String? = nil, key: CacheKey? = nil, from: Double? = nil, to: Double? = nil, limit: Int = 100) {
        self.tenant = tenant
        self.task = task
        self.key = key
        self.from = from
        self.to = to
        self.limit = limit
    }
}

/// One content key and how often it was asked for.
public struct RepeatedKey: Sendable, Equatable {
    /// The content key.
    public var key: CacheKey
    /// The task it was asked of.
    public var task: String
    /// Answered requests for it (misses included).
    public var requests: Int64
    /// Of those, answered from cache (hit, coalesced, stale).
    public var cached: Int64
    /// The first and last time it was asked, seconds since 1970.
    public var firstSeen: Double
    public var lastSeen: Double
    /// Tokens its cached answers saved (metered − billed).
    public var savedTokens: Int64

    public init(key: CacheKey, task: String, requests: Int64, cached: Int64, firstSeen: Double, lastSeen: Double, savedTokens: Int64) {
        self.key = key
        self.task = task
        self.requests = requests
        self.cached = cached
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.savedTokens = savedTokens
    }
}
