/// An error from a ``CacheStore``.
///
/// The description names what failed and never contains keys or cached content.
public struct CacheStoreError: Error, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case corruptEntry = "corrupt_entry"
            case storageFailed = "storage_failed"
            case closed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Stored bytes could not be decoded as a ``DejaCore/CacheEntry``.
        public static let corruptEntry = Code(.corruptEntry)
        /// The backing storage (file, database) failed; see ``CacheStoreError/underlying``.
        public static let storageFailed = Code(.storageFailed)
        /// The store was used after it was closed.
        public static let closed = Code(.closed)

        /// The code in snake_case, e.g. `corrupt_entry`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong, for logs and operators.
    public let message: String
    /// The error that caused this one, if any.
    public let underlying: (any Error)?

    /// Creates an error; `message` must not contain keys or content.
    public init(code: Code, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// The code and message, and the underlying error's description.
    public var description: String {
        var text = "CacheStoreError(\(code)): \(message)"
        if let underlying { text += " (\(String(describing: underlying)))" }
        return text
    }

    static func corrupt(_ message: String) -> Self { Self(code: .corruptEntry, message: message) }

    static func storage(_ message: String, _ underlying: any Error) -> Self {
        if let error = underlying as? Self { return error }
        return Self(code: .storageFailed, message: message, underlying: underlying)
    }

    static let closedStore = Self(code: .closed, message: "the cache store is closed")
}
