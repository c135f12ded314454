/// What a usage report groups its rows by.
public enum UsageDimension: String, Sendable, Codable, CaseIterable {
    /// One row per tenant.
    case tenant
    /// One row per task (route).
    case task
    /// One row per UTC day.
    case day
    /// One row per API key.
    case key
}
