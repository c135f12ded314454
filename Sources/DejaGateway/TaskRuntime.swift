import DejaCore
import NIOCore

/// Everything the gateway needs to serve one configured task: its canonical-form policy, where its
/// model lives, how long answers keep, and how they are metered and priced.
public struct TaskRuntime: Sendable {
    /// The task's canonical-form rules, model name and version.
    public var policy: TaskPolicy
    /// The route clients POST to, e.g. `/ocr`.
    public var route: String
    /// The model server's URL for this task, e.g. `http://127.0.0.1:8866/ocr`.
    public var upstreamURL: String
    /// A URL answering 200 when the model server is up, for `/readyz`.
    public var healthURL: String?
    /// How long one upstream call may take.
    public var timeout: TimeAmount
    /// Seconds an answer stays fresh.
    public var ttl: Double
    /// How an answer is worth tokens.
    public var meter: Meter
    /// Fraction of the metered tokens billed for an answer served from cache (0 by default).
    public var hitPrice: Double

    public init(
        policy: TaskPolicy,
        route: String,
        upstreamURL: String,
        healthURL: String? = nil,
        timeout: TimeAmount = .seconds(60),
        ttl: Double = 86_400,
        meter: Meter,
        hitPrice: Double = 0
    ) {
        self.policy = policy
        self.route = route
        self.upstreamURL = upstreamURL
        self.healthURL = healthURL
        self.timeout = timeout
        self.ttl = ttl
        self.meter = meter
        self.hitPrice = hitPrice
    }

    /// Tokens billed for a cached answer worth `metered` tokens.
    public func hitBill(metered: Int64) -> Int64 {
        guard hitPrice > 0 else { return 0 }
        return Int64((hitPrice * Double(metered)).rounded())
    }
}
