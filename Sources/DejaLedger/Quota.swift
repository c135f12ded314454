/// A token budget: at most `limit` billed tokens per `period`, for one key or a whole tenant.
///
/// A request is admitted when, for every quota that applies to it (its key's and its tenant's),
/// tokens billed in the current period + tokens of outstanding reservations + the tokens it asks for ≤ `limit`.
public struct Quota: Sendable, Codable, Equatable, Hashable {
    /// The tenant the budget belongs to.
    public var tenant: String
    /// The key the budget limits; `nil` for the whole tenant (every key counts against it).
    public var keyID: String?
    /// The window billed tokens are counted over.
    public var period: QuotaPeriod
    /// Tokens allowed per period; for ``QuotaPeriod/prepaid``, every token ever topped up.
    public var limit: Int64

    /// Creates a quota.
    public init(tenant: String, keyID: String? = nil, period: QuotaPeriod, limit: Int64) {
        self.tenant = tenant
        self.keyID = keyID
        self.period = period
        self.limit = limit
    }
}
