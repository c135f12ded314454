/// Ledger settings both backends share.
public struct LedgerOptions: Sendable {
    /// Seconds after which a reservation nobody settled or released stops counting against budgets. Default 10 minutes.
    public var reservationLifetime: Double
    /// Seconds a response stored under an `Idempotency-Key` is replayed. Default 24 hours.
    public var idempotencyRetention: Double

    /// Creates settings; the defaults suit production.
    public init(reservationLifetime: Double = 600, idempotencyRetention: Double = 86_400) {
        self.reservationLifetime = reservationLifetime
        self.idempotencyRetention = idempotencyRetention
    }
}
