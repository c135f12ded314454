/// Why ``Ledger/reserve(tenant:keyID:tokens:at:)`` refused: the first budget the request would overrun.
public struct QuotaExceeded: Sendable, Equatable {
    /// The budget that would be overrun.
    public var quota: Quota
    /// Tokens already billed in the current period.
    public var used: Int64
    /// Tokens held by other outstanding reservations.
    public var reserved: Int64
    /// Tokens the refused request asked for.
    public var requested: Int64
    /// When the budget resets, seconds since 1970; `nil` for a prepaid balance, which only a top-up raises.
    public var resetsAt: Double?

    /// Creates a description of a refusal.
    public init(quota: Quota, used: Int64, reserved: Int64, requested: Int64, resetsAt: Double?) {
        self.quota = quota
        self.used = used
        self.reserved = reserved
        self.requested = requested
        self.resetsAt = resetsAt
    }

    /// Tokens still available in this period (never negative).
    public var remaining: Int64 { max(0, quota.limit - used - reserved) }

    /// A message for the client: the budget, what is left and when it resets; no tenant or key names.
    public var message: String {
        let scope = quota.keyID == nil ? "the tenant's" : "this key's"
        switch quota.period {
        case .prepaid:
            return "\(scope) prepaid balance of \(quota.limit) tokens has \(remaining) left, fewer than the "
                + "\(requested) this request needs; top up the balance to continue"
        case .day, .month:
            let reset = resetsAt.map { " it resets at \(Self.iso8601($0))" } ?? ""
            return "\(scope) \(quota.period == .day ? "daily" : "monthly") budget of \(quota.limit) tokens has "
                + "\(remaining) left, fewer than the \(requested) this request needs;\(reset)"
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for a time in seconds since 1970.
    static func iso8601(_ time: Double) -> String {
        let seconds = Int64(time.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let (year, month, day) = QuotaPeriod.civil(fromDays: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }
}
