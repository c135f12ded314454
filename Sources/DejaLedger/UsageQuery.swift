/// Which usage records a report covers, and how its rows are grouped.
public struct UsageQuery: Sendable {
    /// Only this tenant's records; `nil` for all tenants.
    public var tenant: String?
    /// Records at or after this time (seconds since 1970); `nil` for no lower bound.
    public var from: Double?
    /// Records before this time (seconds since 1970, exclusive); `nil` for no upper bound.
    public var to: Double?
    /// The dimensions rows are grouped by; a dimension left out is summed over (its ``UsageRow`` field is
    /// `nil` or empty). Ignored by ``Ledger/records(_:)``.
    public var groupBy: [UsageDimension]

    /// The grouping reports have always had: per tenant, task and UTC day.
    public static let defaultGroupBy: [UsageDimension] = [.tenant, .task, .day]

    /// Creates a query; the defaults cover everything, grouped per tenant, task and UTC day.
    public init(tenant: String? = nil, from: Double? = nil, to: Double? = nil, groupBy: [UsageDimension] = Self.defaultGroupBy) {
        self.tenant = tenant
        self.from = from
        self.to = to
        self.groupBy = groupBy
    }
}
