/// An error from a ``Ledger``.
///
/// The description names what failed and never contains secrets or request content.
public struct LedgerError: Error, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case invalidArgument = "invalid_argument"
            case storageFailed = "storage_failed"
            case migrationFailed = "migration_failed"
            case closed
            case quotaExceeded = "quota_exceeded"
            case idempotencyConflict = "idempotency_conflict"
            case idempotencyMismatch = "idempotency_mismatch"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An argument was rejected (e.g. an empty tenant); the message names it.
        public static let invalidArgument = Code(.invalidArgument)
        /// The database failed; see ``LedgerError/underlying``.
        public static let storageFailed = Code(.storageFailed)
        /// The database schema could not be created or upgraded.
        public static let migrationFailed = Code(.migrationFailed)
        /// The ledger was used after it was closed.
        public static let closed = Code(.closed)
        /// A reservation would overrun a budget; ``LedgerError/quotaExceeded`` says which, and when it resets.
        public static let quotaExceeded = Code(.quotaExceeded)
        /// An answer to the same request is already stored under the `Idempotency-Key`; nothing was written.
        /// Replay the stored answer (``Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)`` returns it).
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// The `Idempotency-Key` is bound to a different request (its fingerprint differs, or it predates
        /// fingerprints); nothing was written. The client reused a key for another request: HTTP 422.
        public static let idempotencyMismatch = Code(.idempotencyMismatch)

        /// The code in snake_case, e.g. `storage_failed`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong and, where it applies, how to fix it.
    public let message: String
    /// The error that caused this one, if any.
    public let underlying: (any Error)?
    /// For code `quotaExceeded`: the budget, what it had left and when it resets; otherwise `nil`.
    public let quotaExceeded: QuotaExceeded?

    /// Creates an error; `message` must not contain secrets.
    public init(code: Code, message: String, underlying: (any Error)? = nil, quotaExceeded: QuotaExceeded? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.quotaExceeded = quotaExceeded
    }

    /// The code and message, and the underlying error's description.
    public var description: String {
        var text = "LedgerError(\(code)): \(message)"
        if let underlying { text += " (\(String(describing: underlying)))" }
        return text
    }

    static func storage(_ message: String, _ underlying: any Error) -> Self {
        if let error = underlying as? Self { return error }
        return Self(code: .storageFailed, message: message, underlying: underlying)
    }

    static let closedLedger = Self(code: .closed, message: "the ledger is closed")

    static func exceeded(_ exceeded: QuotaExceeded) -> Self {
        Self(code: .quotaExceeded, message: exceeded.message, quotaExceeded: exceeded)
    }

    static let duplicateIdempotencyKey = Self(
        code: .idempotencyConflict,
        message: "a response is already stored under this Idempotency-Key; replay the stored response"
    )

    static let idempotencyKeyMismatch = Self(
        code: .idempotencyMismatch,
        message: "this Idempotency-Key was used for a different request; send a new key for a new request"
    )

    static func invalid(_ message: String) -> Self {
        Self(code: .invalidArgument, message: message)
    }
}
