/// The first answer to a request carrying an `Idempotency-Key`, replayed to its retries.
public struct IdempotentResponse: Sendable, Codable, Equatable {
    /// HTTP status.
    public var status: Int
    /// Response headers.
    public var headers: [String: String]
    /// Response body.
    public var body: [UInt8]
    /// When the answer was stored, seconds since 1970.
    public var createdAt: Double

    /// Creates a stored response.
    public init(status: Int, headers: [String: String], body: [UInt8], createdAt: Double) {
        self.status = status
        self.headers = headers
        self.body = body
        self.createdAt = createdAt
    }
}
