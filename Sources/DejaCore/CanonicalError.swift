/// Why a request body could not be put into canonical form.
///
/// One error type for all of DejaCore's parsing and canonicalisation. `path` names the place in the
/// document (`$`, `$.file`, `$.items[3].name`) and `message` says what is wrong and how to fix it. Neither
/// ever contains request content (values, base64 data), so the description is safe to log and to send back.
public struct CanonicalError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of problem this is; compare against the static members, e.g. `error.code == .duplicateKey`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case invalidJSON = "invalid_json"
            case invalidUTF8 = "invalid_utf8"
            case invalidEscape = "invalid_escape"
            case duplicateKey = "duplicate_key"
            case limitExceeded = "limit_exceeded"
            case emptyBody = "empty_body"
            case notAnObject = "not_an_object"
            case wrongType = "wrong_type"
            case invalidBase64 = "invalid_base64"
            case missingField = "missing_field"
            case missingTenant = "missing_tenant"
            case imageTooLarge = "image_too_large"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The body is not well-formed JSON (syntax, trailing data, malformed number).
        public static var invalidJSON: Self { Self(.invalidJSON) }
        /// A string holds bytes that are not UTF-8.
        public static var invalidUTF8: Self { Self(.invalidUTF8) }
        /// A backslash escape is unknown or malformed, or a `\u` escape is a lone surrogate.
        public static var invalidEscape: Self { Self(.invalidEscape) }
        /// The same member name appears twice in one object (compared after unescaping).
        public static var duplicateKey: Self { Self(.duplicateKey) }
        /// A ``JSONLimits`` bound was passed: depth, string size, member count, field count, number size.
        public static var limitExceeded: Self { Self(.limitExceeded) }
        /// The body is empty or only white space.
        public static var emptyBody: Self { Self(.emptyBody) }
        /// The body is valid JSON but not an object.
        public static var notAnObject: Self { Self(.notAnObject) }
        /// A member has the wrong JSON type for its policy (e.g. a binary field that is not a string).
        public static var wrongType: Self { Self(.wrongType) }
        /// A binary field is not valid base64 (or not a base64 data URI).
        public static var invalidBase64: Self { Self(.invalidBase64) }
        /// A required member is missing (or `null`).
        public static var missingField: Self { Self(.missingField) }
        /// The task's cache scope is per tenant but no tenant was given; a gateway bug, not a client error.
        public static var missingTenant: Self { Self(.missingTenant) }

        /// An image in a binary field passes ``ImageLimits`` (pixels or decoded bytes); the client should
        /// send a smaller image. Map it to 413 (or 400), naming the field.
        public static var imageTooLarge: Self { Self(.imageTooLarge) }

        /// The code in snake_case, e.g. `duplicate_key`, for error envelopes.
        public var description: String { base.rawValue }
    }

    /// What kind of problem this is.
    public let code: Code
    /// Where in the document: `$` for the whole body, `$.file`, `$.items[3].name`.
    public let path: String
    /// What is wrong and how to fix it; never contains request content.
    public let message: String
    /// Byte offset into the body where the problem was found, when known.
    public let offset: Int?

    /// Creates an error.
    public init(_ code: Code, path: String, message: String, offset: Int? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.offset = offset
    }

    /// `<path>: <message>`, e.g. `$.file: not valid base64 (...)`.
    public var description: String { "\(path): \(message)" }
}
