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

    /// Creates a reservation description; only a ledger's `reserve` makes one that holds tokens.
    public init(id: String, tenant: String, keyID: String, tokens: Int64, time: Double) {
        self.id = id
        self.tenant = tenant
        self.keyID = keyID
        self.tokens = tokens
        self.time = time
    }
}
