import NIOCore
import SQLiteNIO

extension SQLiteLedger {
    /// Creates a key for `tenant`; returns its info and the secret, which is shown once and stored only as
    /// a SHA-256 hash. Throws ``LedgerError`` with code `invalidArgument` for an empty tenant.
    public func createKey(tenant: String, name: String) async throws(LedgerError) -> (info: APIKeyInfo, secret: String) {
        guard !tenant.isEmpty else {
            throw LedgerError(code: .invalidArgument, message: "tenant must not be empty")
        }
        return try await write("could not create an API key") {
            var attempt = 0
            while true {
                attempt += 1
                let secret = APISecret.generate()
                let info = APIKeyInfo(id: APISecret.generateKeyID(), tenant: tenant, name: name, createdAt: clock.now())
                do {
                    _ = try await writer.query(
                        "INSERT INTO api_keys (id, tenant, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                        [
                            .text(info.id), .text(tenant), .text(name),
                            .blob(ByteBuffer(bytes: APISecret.hash(secret))), .float(info.createdAt),
                        ]
                    )
                } catch let error as SQLiteError where attempt < 3 && Self.isConstraintViolation(error) {
                    continue  // an id collision; draw again
                }
                logger.info(
                    "created an API key",
                    metadata: ["deja.key_id": .string(info.id), "deja.tenant": .string(tenant)]
                )
                return (info, secret)
            }
        }
    }

    /// All keys, or only `tenant`'s when given, oldest first.
    public func listKeys(tenant: String?) async throws(LedgerError) -> [APIKeyInfo] {
        let rows = try await read("could not list API keys") {
            if let tenant {
                try await reader.query(
                    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE tenant = ? ORDER BY created_at, id",
                    [.text(tenant)]
                )
            } else {
                try await reader.query(
                    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id"
                )
            }
        }
        return rows.map(Self.keyInfo)
    }

    /// Revokes by key id; returns false when no such key. Revoking a revoked key keeps its first revocation time.
    public func revokeKey(id: String) async throws(LedgerError) -> Bool {
        let now = clock.now()
        let revoked = try await write("could not revoke an API key") {
            try await writer.query(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING id",
                [.float(now), .text(id)]
            )
        }
        guard !revoked.isEmpty else { return false }
        logger.info("revoked an API key", metadata: ["deja.key_id": .string(id)])
        return true
    }

    /// The key's info for a presented secret, or nil when unknown or revoked.
    ///
    /// Always consults the database (one indexed lookup), so a call doubles as a readiness probe; throws
    /// ``LedgerError`` when the database fails or the ledger is closed.
    public func authenticate(secret: String) async throws(LedgerError) -> APIKeyInfo? {
        let hash = ByteBuffer(bytes: APISecret.hash(secret.utf8.count <= 1024 ? secret : ""))
        let rows = try await read("could not look up an API key") {
            try await reader.query(
                "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL",
                [.blob(hash)]
            )
        }
        return rows.first.map(Self.keyInfo)
    }

    private static func keyInfo(_ row: SQLiteRow) -> APIKeyInfo {
        APIKeyInfo(
            id: row.column("id")?.string ?? "",
            tenant: row.column("tenant")?.string ?? "",
            name: row.column("name")?.string ?? "",
            createdAt: row.column("created_at")?.double ?? 0,
            revokedAt: row.column("revoked_at")?.double
        )
    }

    private static func isConstraintViolation(_ error: SQLiteError) -> Bool {
        switch error.reason {
        case .constraint, .constraintPrimaryKeyFailed, .constraintUniqueFailed: true
        default: false
        }
    }
}
