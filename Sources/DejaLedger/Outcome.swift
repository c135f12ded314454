/// How a request was answered; the `x-deja-cache` header value and the usage report's breakdown.
public enum Outcome: String, Sendable, Codable, CaseIterable {
    /// Answered from cache.
    case hit
    /// Answered by the upstream model.
    case miss
    /// Waited on an identical in-flight miss and shared its answer.
    case coalesced
    /// Served from cache past its TTL because the upstream failed.
    case stale
    /// A cached rejection.
    case negative
    /// The cache was skipped (no-cache, no-store, or the store was down).
    case bypass
    /// The request failed.
    case error

    /// Whether the answer came from a stored or shared answer, so its metered tokens were saved.
    public var isServedFromCache: Bool {
        switch self {
        case .hit, .coalesced, .stale: true
        case .miss, .negative, .bypass, .error: false
        }
    }
}
