import Foundation

/// Reading report bounds: a UTC day `YYYY-MM-DD`, as `/v1/usage` and `deja usage` take them.
public enum UsageDay {
    /// The start of `text`'s UTC day in seconds since 1970, or the end of it (the next day's start,
    /// exclusive) when `endOfDay`; `nil` when `text` is not such a date.
    public static func seconds(_ text: String, endOfDay: Bool) -> Double? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        guard let date = formatter.date(from: text) else { return nil }
        return date.timeIntervalSince1970 + (endOfDay ? 86_400 : 0)
    }
}
