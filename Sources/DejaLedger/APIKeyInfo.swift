/// What the ledger knows about an API key; never its secret.
public struct APIKeyInfo: Sendable, Equatable, Codable {
    /// The key's public id, `key_` followed by 12 hex digits.
    public var id: String
    /// The tenant the key belongs to and is billed to.
    public var tenant: String
    /// A human label.
    public var name: String
    /// When the key was created, seconds since 1970.
    public var createdAt: Double
    /// When the key was revoked, seconds since 1970; `nil` while it is valid.
    public var revokedAt: Double?

    /// Whether the key has been revoked.
    public var isRevoked: Bool { revokedAt != nil }

    /// Creates a key description.
    public init(id: String, tenant: String, name: String, createdAt: Double, revokedAt: Double? = nil) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}
