/// Tokens held against a budget while a miss is in flight; settle it with
/// ``Ledger/record(_:settling:)`` or give it back with ``Ledger/release(_:)``.
///
/// A reservation nobody settles or releases (the gateway crashed) stops counting once it expires.
public struct Reservation: Sendable, Codable, Equatable, Hashable {
    /// A unique id.
    public var id: String
    /// The tenant billed.
    public var tenant: String
    /// The key billed.
    public var keyID: String
    /// Tokens held.
    public var tokens: Int64
    /// When it was taken, seconds since 1970.
    public var time: Double
    /// Whether the ledger stored it: `false` when no budget applied to the key, so nothing was held and
    /// settling or releasing it has nothing to remove (and costs no write).
    public var holds: Bool

    /// Creates a reservation description; only a ledger's `reserve` makes one that holds tokens.
    public init(id: String, tenant: String, keyID: String, tokens: Int64, time: Double, holds: Bool = true) {
        self.id = id
        self.tenant = tenant
        self.keyID = keyID
        self.tokens = tokens
        self.time = time
        self.holds = holds
    }
}

extension Reservation {
    /// This reservation as a ledger returns it when no budget applied: nothing stored, nothing to remove.
    var unheld: Reservation {
        var copy = self
        copy.holds = false
        return copy
    }
}
