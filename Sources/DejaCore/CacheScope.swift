/// Who may share a task's cache entries.
public enum CacheScope: String, Sendable, Hashable, CaseIterable {
    /// One entry per canonical request, shared by all tenants.
    case shared
    /// Entries are per tenant: the same request from two tenants gives two keys.
    case tenant

    /// The scope field of the key: `shared`, or `tenant:<id>`; `nil` when per tenant and `tenant` is `nil`.
    public func keyField(tenant: String?) -> String? {
        switch self {
        case .shared: "shared"
        case .tenant: tenant.map { "tenant:" + $0 }
        }
    }
}
