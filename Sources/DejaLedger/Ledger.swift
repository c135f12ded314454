/// Where Deja keeps API keys and the usage it bills.
///
/// Implementations are shared by every request in flight; every method may be called concurrently.
public protocol Ledger: Sendable {
    /// Creates a key for `tenant`; returns its info and the secret, which is shown once and stored only as a SHA-256 hash.
    func createKey(tenant: String, name: String) async throws -> (info: APIKeyInfo, secret: String)
    /// All keys, or only `tenant`'s when given, oldest first.
    func listKeys(tenant: String?) async throws -> [APIKeyInfo]
    /// Revokes by key id; returns false when no such key.
    func revokeKey(id: String) async throws -> Bool
    /// The key's info for a presented secret, or nil when unknown or revoked.
    func authenticate(secret: String) async throws -> APIKeyInfo?
    /// Appends records in one transaction; when it returns they are durable (committed, fsynced).
    func record(_ records: [UsageRecord]) async throws
    /// Per tenant (when query.tenant is nil, rows carry their tenant; otherwise only that tenant's), task and UTC day.
    func usage(_ query: UsageQuery) async throws -> [UsageRow]
    /// Releases the ledger's resources; call once, after every other call has returned.
    func close() async throws
}
