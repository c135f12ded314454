/// The window a ``Quota`` counts billed tokens over.
public enum QuotaPeriod: String, Sendable, Codable, CaseIterable {
    /// A UTC calendar day; resets at 00:00 UTC.
    case day
    /// A UTC calendar month; resets at 00:00 UTC on the first of the next month.
    case month
    /// A prepaid balance: counts every token billed since the quota was created; only ``Ledger/topUp(tenant:keyID:tokens:)``
    /// (or ``Ledger/setQuota(_:)``) raises it, and it never resets.
    case prepaid

    /// The window containing `time` (seconds since 1970): its start (inclusive) and end (exclusive, when the
    /// budget resets); nil for ``prepaid``, whose window starts when the quota was created and never ends.
    public func window(containing time: Double) -> (start: Double, end: Double)? {
        let day = (time / 86_400).rounded(.down)
        switch self {
        case .day:
            return (day * 86_400, (day + 1) * 86_400)
        case .month:
            let (year, month, _) = Self.civil(fromDays: Int64(day))
            let start = Self.days(year: year, month: month, day: 1)
            let end = month == 12 ? Self.days(year: year + 1, month: 1, day: 1) : Self.days(year: year, month: month + 1, day: 1)
            return (Double(start) * 86_400, Double(end) * 86_400)
        case .prepaid:
            return nil
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
