import DejaCore
import NIOCore

/// Everything the gateway needs to serve one configured task: its canonical-form policy, where its
/// model lives, how long answers keep, how they are metered and priced, and the guards in front of
/// its model server.
public struct TaskRuntime: Sendable {
    /// How long answers and rejections keep, and how expired answers may still be used.
    public struct Freshness: Sendable, Equatable {
        /// Seconds an answer stays fresh.
        public var ttl: Double = 86_400
        /// Each entry's TTL is spread by up to ± this fraction, so entries stored together do not
        /// all expire together.
        public var ttlJitter: Double = 0.1
        /// Seconds a model's rejection of an input (its 4xx) is remembered; 0 turns that off.
        public var negativeTTL: Double = 60
        /// Seconds after expiry during which an answer is still served while one background
        /// refresh runs; 0 turns that off.
        public var staleWhileRevalidate: Double = 0
        /// Seconds after expiry during which an answer is served (`stale`) when the model fails.
        public var staleIfError: Double = 3_600
        /// Seconds a model server's failure (5xx) on one input is remembered for that input: its
        /// repeats get 502 at once instead of reaching the model; 0 turns that off.
        public var failureTTL: Double = 30

        public init() {}
    }

    /// The task's canonical-form rules, model name and version.
    public var policy: TaskPolicy
    /// The wire protocol of the route and its model server.
    public var taskProtocol: any TaskProtocol
    /// The route clients POST to, e.g. `/ocr`.
    public var route: String
    /// The model servers of this task, each with its own breaker; calls are balanced over them.
    public let upstreams: UpstreamPool
    /// How long one upstream call may take.
    public var timeout: TimeAmount
    public var freshness: Freshness
    /// How an answer is worth tokens.
    public var meter: Meter
    /// Fraction of the metered tokens billed for an answer served from cache (0 by default).
    public var hitPrice: Double
    /// Whether answers from cache are given past an exhausted budget (the default: they cost nothing,
    /// or only `hitPrice`). When false, a hit needs room in the caller's budgets like a miss does.
    public var hitsPastBudget = true
    /// Bounds concurrent calls to the model server, with a bounded queue shared fairly by tenants.
    public let limiter: ConcurrencyLimiter
    /// Whether one tenant's `Cache-Control: no-cache` answer may replace a different fresh answer in
    /// the shared cache (default false: it is served to that tenant but the stored answer stays).
    public var noCacheReplacesShared = false
    /// Whether the pages of documents the protocol answers page by page are kept and reused one by one
    /// (``Gateway/DocumentPages``); the default, true, costs nothing for other requests.
    public var pageMemo = true
    /// Whether pages are also matched with images by what they render as (costs a render-only call per
    /// PDF miss not answered from its pages, and a second cache piece per page).
    public var pageMemoImages = false
    /// What happens to a binary member given as an http(s) URL.
    public var fileURLs = FileURLs.refuse
    /// What happens to answers in which a detector finds sensitive data.
    public var sensitive = SensitivePolicy()
    /// The task's gray release, when a candidate model version is declared; `nil` (the default) costs
    /// nothing on any path.
    public var gray: GrayRelease?

    /// What happens to a binary member given as an http(s) URL.
    public enum FileURLs: Sendable {
        /// Refused (422): the gateway would have the model server fetch an address the client chose
        /// (internal ones included), and would key the answer by a URL whose content may change.
        case refuse
        /// Sent to the model server as it is, keyed by the URL's text.
        case forward
    }

    /// A task with one model server.
    public init(
        policy: TaskPolicy,
        protocol taskProtocol: any TaskProtocol = PaddleXOCR(),
        route: String,
        upstreamURL: String,
        healthURL: String? = nil,
        timeout: TimeAmount = .seconds(60),
        freshness: Freshness = Freshness(),
        meter: Meter,
        hitPrice: Double = 0,
        breaker: CircuitBreaker = CircuitBreaker(),
        limiter: ConcurrencyLimiter = ConcurrencyLimiter(limit: 4, maxQueue: 256)
    ) {
        self.init(
            policy: policy, protocol: taskProtocol, route: route, upstreams: UpstreamPool([Upstream(url: upstreamURL, healthURL: healthURL, breaker: breaker)]),
            timeout: timeout, freshness: freshness, meter: meter, hitPrice: hitPrice, limiter: limiter
        )
    }

    /// A task with one or more model servers.
    public init(
        policy: TaskPolicy,
        protocol taskProtocol: any TaskProtocol = PaddleXOCR(),
        route: String,
        upstreams: UpstreamPool,
        timeout: TimeAmount = .seconds(60),
        freshness: Freshness = Freshness(),
        meter: Meter,
        hitPrice: Double = 0,
        limiter: ConcurrencyLimiter = ConcurrencyLimiter(limit: 4, maxQueue: 256)
    ) {
        self.policy = policy
        self.taskProtocol = taskProtocol
        self.route = route
        self.upstreams = upstreams
        self.timeout = timeout
        self.freshness = freshness
        self.meter = meter
        self.hitPrice = hitPrice
        self.limiter = limiter
    }

    /// The first model server's URL (the only one, for most tasks).
    public var upstreamURL: String { upstreams.members[0].url }

    /// The first model server's breaker (the only one, for most tasks).
    public var breaker: CircuitBreaker { upstreams.members[0].breaker }

    /// Seconds a cross-instance lock on a miss lives: one model call plus a margin, so a dead owner
    /// never makes the others wait longer than that.
    public var lockSeconds: Int64 {
        Int64(timeout.nanoseconds / 1_000_000_000) + 5
    }

    /// The scope a body is remembered under (``KeyMemo``): per tenant for a `tenant`-scoped task.
    public func memoScope(tenant: String) -> String {
        policy.scope == .tenant ? "tenant:\(tenant)" : "shared"
    }

    /// What a found entry is to a request: the one cached-answer policy of this task.
    public var cachedAnswers: CachedAnswerPolicy {
        CachedAnswerPolicy(hitPrice: hitPrice, hitsPastBudget: hitsPastBudget, staleWhileRevalidate: freshness.staleWhileRevalidate)
    }

    /// The expiry of an answer produced at `now`, with jitter drawn from `unit` in [-1, 1].
    public func expiry(from now: Double, unit: Double) -> Double {
        let spread = min(max(freshness.ttlJitter, 0), 0.5) * max(-1, min(1, unit))
        return now + freshness.ttl * (1 + spread)
    }
}
