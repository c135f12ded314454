/// An error from the Redis client.
///
/// The description names what failed and never contains keys, values or secrets; a server's error text,
/// which may quote arguments, is kept apart in ``serverMessage`` and only its first word (`MOVED`, `ERR`,
/// `WRONGTYPE`, …) appears in the description.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case protocolError = "protocol_error"
            case tooLarge = "too_large"
            case tooDeep = "too_deep"
            case serverError = "server_error"
            case unexpectedResponse = "unexpected_response"
            case connectionFailed = "connection_failed"
            case connectionClosed = "connection_closed"
            case timeout
            case unavailable
            case invalidConfiguration = "invalid_configuration"
            case crossSlot = "cross_slot"
            case tooManyRedirects = "too_many_redirects"
            case clusterUnavailable = "cluster_unavailable"
            case cancelled
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Bytes from the server are not valid RESP.
        public static let protocolError = Code(.protocolError)
        /// A length or count from the server is larger than the configured limit.
        public static let tooLarge = Code(.tooLarge)
        /// A reply nests deeper than the configured limit.
        public static let tooDeep = Code(.tooDeep)
        /// The server answered with an error reply; see ``RedisError/serverMessage``.
        public static let serverError = Code(.serverError)
        /// The reply has a type or shape the command does not expect.
        public static let unexpectedResponse = Code(.unexpectedResponse)
        /// A connection could not be established (including the handshake: AUTH, HELLO, SELECT, TLS).
        public static let connectionFailed = Code(.connectionFailed)
        /// The connection closed before the reply arrived.
        public static let connectionClosed = Code(.connectionClosed)
        /// The command did not get its reply within its timeout.
        public static let timeout = Code(.timeout)
        /// The client is backing off after failed connection attempts, or has been shut down.
        public static let unavailable = Code(.unavailable)
        /// A configuration value (URL, seed list) is invalid.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The keys of one command hash to different cluster slots.
        public static let crossSlot = Code(.crossSlot)
        /// A cluster command was redirected (`MOVED`/`ASK`) more often than allowed.
        public static let tooManyRedirects = Code(.tooManyRedirects)
        /// No cluster topology could be obtained, or the cluster stayed down through every retry.
        public static let clusterUnavailable = Code(.clusterUnavailable)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)

        /// The code in snake_case, e.g. `connection_closed`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What went wrong, for logs and operators; never contains keys or values.
    public let message: String
    /// For ``Code/serverError``: the server's full error text (may quote arguments; do not log it blindly).
    public let serverMessage: String?
    /// The error that caused this one, if any.
    public let underlying: (any Error)?

    /// Creates an error; `message` must not contain keys, values or secrets.
    public init(code: Code, message: String, serverMessage: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.serverMessage = serverMessage
        self.underlying = underlying
    }

    /// For a server error, its first word: `MOVED`, `ASK`, `TRYAGAIN`, `ERR`, …; `nil` otherwise.
    public var serverErrorPrefix: Substring? {
        guard code == .serverError, let serverMessage else { return nil }
        return serverMessage.split(separator: " ", maxSplits: 1).first
    }

    public var description: String {
        var text = "RedisError(\(code)): \(message)"
        if let prefix = serverErrorPrefix { text += " [\(prefix)]" }
        if let underlying { text += " (\(String(describing: underlying)))" }
        return text
    }

    static func server(_ text: String) -> Self {
        Self(code: .serverError, message: "the server answered with an error", serverMessage: text)
    }

    static func unexpected(_ message: String) -> Self { Self(code: .unexpectedResponse, message: message) }

    static func protocolError(_ message: String) -> Self { Self(code: .protocolError, message: message) }

    static let closed = Self(code: .connectionClosed, message: "the connection closed before the reply arrived")

    /// Wraps any error as a `RedisError`, keeping one that already is.
    static func wrap(_ error: any Error, code: Code, message: String) -> Self {
        if let error = error as? Self { return error }
        if error is CancellationError { return Self(code: .cancelled, message: "the task was cancelled") }
        return Self(code: code, message: message, underlying: error)
    }
}
