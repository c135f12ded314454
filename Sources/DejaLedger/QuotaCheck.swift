/// A budget as stored: the quota, and when it was created (where a prepaid balance starts counting).
struct StoredQuota: Sendable {
    var quota: Quota
    var since: Double

    /// The usage window counted at `time`: billed records with `start ≤ time < end` (no end for prepaid).
    func window(at time: Double) -> (start: Double, end: Double?) {
        if let window = quota.period.window(containing: time) { return (window.start, window.end) }
        return (since, nil)
    }
}

/// The admission rule shared by both backends; the SQL that feeds it runs in the backend's transaction.
enum QuotaCheck {
    /// `nil` when `requested` fits: used + reserved + requested ≤ limit; otherwise the refusal.
    static func verdict(
        _ stored: StoredQuota,
        used: Int64,
        reserved: Int64,
        requested: Int64,
        at time: Double
    ) -> QuotaExceeded? {
        let (total, overflow) = used.addingReportingOverflow(reserved)
        let (asked, overflow2) = total.addingReportingOverflow(requested)
        guard overflow || overflow2 || asked > stored.quota.limit else { return nil }
        return QuotaExceeded(
            quota: stored.quota, used: used, reserved: reserved, requested: requested,
            resetsAt: stored.window(at: time).end
        )
    }

    /// Validates a quota for storing; the key id `""` in the table stands for the whole tenant.
    static func validate(_ quota: Quota) throws(LedgerError) {
        guard !quota.tenant.isEmpty else { throw .invalid("quota tenant must not be empty") }
        guard quota.keyID?.isEmpty != true else { throw .invalid("quota keyID must be nil (whole tenant) or a key id") }
        guard quota.limit >= 0 else { throw .invalid("quota limit must not be negative") }
    }

    static func validateReservation(tenant: String, tokens: Int64) throws(LedgerError) {
        guard !tenant.isEmpty else { throw .invalid("tenant must not be empty") }
        guard tokens >= 0 else { throw .invalid("reserved tokens must not be negative") }
    }

    /// A new reservation id: `rsv_` followed by 24 hex digits.
    static func newReservationID() -> String {
        "rsv_" + RandomID.hex(24)
    }
}
