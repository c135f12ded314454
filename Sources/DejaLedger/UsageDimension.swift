import Foundation

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
    /// One row per UTC hour, `YYYY-MM-DDTHH:00Z`: what the dashboard's hourly chart draws.
    case hour
    /// One row per HTTP status sent: with errors, their kinds (400 bad input, 429 quota, 502 model
    /// server failed…).
    case status
}

extension UsageDimension {
    /// The names ``list(_:)`` takes, for error messages.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// Parses a comma-separated list such as `task,day`; `nil` if any name is unknown or the list is empty.
    public static func list(_ text: String) -> [UsageDimension]? {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !names.isEmpty else { return nil }
        var dimensions: [UsageDimension] = []
        for name in names {
            guard let dimension = UsageDimension(rawValue: name) else { return nil }
            if !dimensions.contains(dimension) { dimensions.append(dimension) }
        }
        return dimensions
    }
}
