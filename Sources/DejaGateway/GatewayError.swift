import DejaCore

/// An error on Deja's request path, with the HTTP status it maps to.
///
/// The message says what was wrong and how to fix it; it never contains request content, keys or secrets.
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String {
            case badRequest = "bad_request"
            case unauthorized
            case forbidden
            case notFound = "not_found"
            case payloadTooLarge = "payload_too_large"
            case upstreamRejected = "upstream_rejected"
            case upstreamFailed = "upstream_failed"
            case upstreamUnavailable = "upstream_unavailable"
            case overloaded
            case rateLimited = "rate_limited"
            case quotaExceeded = "quota_exceeded"
            case idempotencyConflict = "idempotency_conflict"
            case idempotencyMismatch = "idempotency_mismatch"
            case requestTimeout = "request_timeout"
            case ledgerUnavailable = "ledger_unavailable"
            case internalError = "internal_error"
        }
        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// The request is malformed; the message names the field.
        public static let badRequest = Code(.badRequest)
        /// No, an unknown or a revoked API key.
        public static let unauthorized = Code(.unauthorized)
        /// The key may not do this.
        public static let forbidden = Code(.forbidden)
        /// No such route or resource.
        public static let notFound = Code(.notFound)
        /// The body is over the configured limit.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The model judged the input invalid (its own 4xx).
        public static let upstreamRejected = Code(.upstreamRejected)
        /// The model server answered with an error or an unreadable answer.
        public static let upstreamFailed = Code(.upstreamFailed)
        /// The model server could not be reached or timed out.
        public static let upstreamUnavailable = Code(.upstreamUnavailable)
        /// Too many requests are waiting for the model server.
        public static let overloaded = Code(.overloaded)
        /// The key made more requests than its rate allows.
        public static let rateLimited = Code(.rateLimited)
        /// The caller's token budget cannot cover this request.
        public static let quotaExceeded = Code(.quotaExceeded)
        /// Another request with the same `Idempotency-Key` stored its answer first.
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// The `Idempotency-Key` was used before with a different request.
        public static let idempotencyMismatch = Code(.idempotencyMismatch)
        /// The client sent its body too slowly.
        public static let requestTimeout = Code(.requestTimeout)
        /// The ledger could not record a billed answer, so the answer was withheld.
        public static let ledgerUnavailable = Code(.ledgerUnavailable)
        /// A bug: something that should not happen.
        public static let internalError = Code(.internalError)

        /// snake_case name, as used in Deja's error envelope.
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The HTTP status the error maps to.
    public var status: Int
    public var underlying: (any Error)?
    /// Seconds after which a retry may succeed (`Retry-After`), for overload and rate limits.
    /// Deja's own account of a refusal that the protocol words its own way (a PaddleX validation list);
    /// sent in the `x-deja-error` header.
    public var detail: String?
    public var retryAfter: Int?
    /// The model server could not be connected to: the request never reached it, so another server
    /// may take it.
    public var isConnectionFailure = false

    public init(_ code: Code, _ message: String, status: Int? = nil, retryAfter: Int? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.retryAfter = retryAfter
        self.status = status ?? Self.defaultStatus(code)
    }

    /// Whether the model server failed (unreachable, timed out, 5xx, refused by the breaker or the
    /// queue) — the failures an expired answer may cover for — as opposed to the request's own fault.
    public var isModelFailure: Bool {
        switch code.base {
        case .upstreamUnavailable, .upstreamFailed, .overloaded: true
        default: false
        }
    }

    private static func defaultStatus(_ code: Code) -> Int {
        switch code.base {
        case .badRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .payloadTooLarge: 413
        case .upstreamRejected: 422
        case .upstreamFailed: 502
        case .upstreamUnavailable: 503
        case .overloaded: 503
        case .rateLimited: 429
        case .quotaExceeded: 429
        case .idempotencyConflict: 409
        case .idempotencyMismatch: 422
        case .requestTimeout: 408
        case .ledgerUnavailable: 503
        case .internalError: 500
        }
    }

    public var description: String { "GatewayError(\(code), status \(status)): \(message)" }
}

extension GatewayError {
    /// Deja's own words for a request the canonical form refused; the message names the field.
    public static func badRequest(_ error: CanonicalError) -> GatewayError {
        switch error.code {
        case .invalidJSON, .invalidUTF8, .invalidEscape:
            return GatewayError(.badRequest, "the request body is not valid JSON: \(error.description)", status: 400)
        case .limitExceeded, .imageTooLarge:
            return GatewayError(.payloadTooLarge, "the request exceeds a limit: \(error.description)", status: 413)
        case .missingTenant:
            return GatewayError(.internalError, "the task's cache scope needs a tenant", status: 500)
        case .emptyBody:
            return GatewayError(.badRequest, "empty request body: send the request as a JSON object", status: 400)
        default:
            return GatewayError(.badRequest, "invalid request: \(error.description)", status: 400)
        }
    }
}
