import DejaCore

/// The requests of one hour that share tenant, key, task, outcome and status, counted together instead of
/// one ``UsageRecord`` each: what the ledger keeps for answers that bill nothing (see ``UsageTally``).
public struct UsageCount: Sendable, Equatable {
    /// What the requests counted together share.
    public struct Group: Hashable, Sendable, Comparable {
        /// The start of the UTC hour they were answered in, seconds since 1970.
        public var hour: Double
        /// The tenant that owns the API key.
        public var tenant: String
        /// The API key's id.
        public var keyID: String
        /// The task (route) name.
        public var task: String
        /// How they were answered.
        public var outcome: Outcome
        /// The HTTP status sent.
        public var status: Int

        public init(hour: Double, tenant: String, keyID: String, task: String, outcome: Outcome, status: Int) {
            self.hour = hour
            self.tenant = tenant
            self.keyID = keyID
            self.task = task
            self.outcome = outcome
            self.status = status
        }

        /// Ordered as the ledger stores them, so concurrent writers lock rows in the same order.
        public static func < (a: Group, b: Group) -> Bool {
            (a.tenant, a.hour, a.keyID, a.task, a.outcome.rawValue, a.status) < (b.tenant, b.hour, b.keyID, b.task, b.outcome.rawValue, b.status)
        }
    }

    /// What the requests share.
    public var group: Group
    /// How many requests.
    public var requests: Int64
    /// Tokens their answers are worth by the task's meter, summed.
    public var meteredTokens: Int64
    /// Tokens billed for them, summed.
    public var billedTokens: Int64
    /// Metered − billed over those served from cache (hit, coalesced, stale), summed.
    public var savedTokens: Int64
    /// Model seconds saved by those served from cache, summed.
    public var modelSecondsSaved: Double

    public init(group: Group, requests: Int64, meteredTokens: Int64, billedTokens: Int64, savedTokens: Int64, modelSecondsSaved: Double) {
        self.group = group
        self.requests = requests
        self.meteredTokens = meteredTokens
        self.billedTokens = billedTokens
        self.savedTokens = savedTokens
        self.modelSecondsSaved = modelSecondsSaved
    }

    /// The start of the UTC hour `time` falls in.
    public static func hour(of time: Double) -> Double {
        (time / 3600).rounded(.down) * 3600
    }
}

/// How often one content key was asked for in one hour, by one tenant of one task: what
/// ``Ledger/repeatedKeys(_:)`` counts for requests that have no record of their own.
public struct KeyCount: Sendable, Equatable {
    /// What the requests counted together share.
    public struct Group: Hashable, Sendable, Comparable {
        /// The start of the UTC hour, seconds since 1970.
        public var hour: Double
        public var tenant: String
        public var task: String
        /// The content key asked for.
        public var key: CacheKey

        public init(hour: Double, tenant: String, task: String, key: CacheKey) {
            self.hour = hour
            self.tenant = tenant
            self.task = task
            self.key = key
        }

        public static func < (a: Group, b: Group) -> Bool {
            (a.tenant, a.hour, a.task) != (b.tenant, b.hour, b.task)
                ? (a.tenant, a.hour, a.task) < (b.tenant, b.hour, b.task)
                : a.key.bytes.lexicographicallyPrecedes(b.key.bytes)
        }
    }

    public var group: Group
    /// Answered requests (errors are not counted).
    public var requests: Int64
    /// Of those, answered from cache (hit, coalesced, stale).
    public var cached: Int64
    /// Metered − billed over the cached ones.
    public var savedTokens: Int64
    /// The first and last time it was asked in the hour, seconds since 1970.
    public var firstSeen: Double
    public var lastSeen: Double

    public init(group: Group, requests: Int64, cached: Int64, savedTokens: Int64, firstSeen: Double, lastSeen: Double) {
        self.group = group
        self.requests = requests
        self.cached = cached
        self.savedTokens = savedTokens
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}
