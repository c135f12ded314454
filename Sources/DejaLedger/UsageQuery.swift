/// Which usage records a report covers.
public struct UsageQuery: Sendable {
    /// Only this tenant's records; `nil` for all tenants.
    public var tenant: String?
    /// Records at or after this time (seconds since 1970); `nil` for no lower bound.
    public var from: Double?
    /// Records before this time (seconds since 1970, exclusive); `nil` for no upper bound.
    public var to: Double?

    /// Creates a query; the defaults cover everything.
    public init(tenant: String? = nil, from: Double? = nil, to: Double? = nil) {
        self.tenant = tenant
        self.from = from
        self.to = to
    }
}
