import NIOCore
import PostgresNIO

extension PostgresLedger {
    /// Creates a key for `tenant`; returns its info and the secret, which is shown once and stored only as
    /// a SHA-256 hash. Throws ``LedgerError`` with code `invalidArgument` for an empty tenant.
    public func createKey(tenant: String, name: String) async throws(LedgerError) -> (info: APIKeyInfo, secret: String) {
        guard !tenant.isEmpty else { throw .invalid("tenant must not be empty") }
        var attempt = 0
        while true {
            attempt += 1
            let secret = APISecret.generate()
            let info = APIKeyInfo(id: APISecret.generateKeyID(), tenant: tenant, name: name, createdAt: clock.now())
            let hash = ByteBuffer(bytes: APISecret.hash(secret))
            do throws(LedgerError) {
                try await read("could not create an API key") {
                    try await client.query(
                        """
                        INSERT INTO api_keys (id, tenant, name, secret_hash, created_at)
                        VALUES (\(info.id), \(tenant), \(name), \(hash), \(info.createdAt))
                        """,
                        logger: logger
                    )
                }
            } catch where attempt < 3 && error.underlying.flatMap(Self.sqlState) == "23505" {
                continue  // an id collision; draw again
            }
            logger.info("created an API key", metadata: ["deja.key_id": .string(info.id), "deja.tenant": .string(tenant)])
            return (info, secret)
        }
    }

    /// All keys, or only `tenant`'s when given, oldest first.
    public func listKeys(tenant: String?) async throws(LedgerError) -> [APIKeyInfo] {
        try await read("could not list API keys") {
            let rows = if let tenant {
                try await client.query(
                    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE tenant = \(tenant) ORDER BY created_at, id",
                    logger: logger
                )
            } else {
                try await client.query(
                    "SELECT id, tenant, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id", logger: logger
                )
            }
            return try await Self.keyInfos(rows)
        }
    }

    /// Revokes by key id; returns false when no such key. Revoking a revoked key keeps its first revocation time.
    public func revokeKey(id: String) async throws(LedgerError) -> Bool {
        let now = clock.now()
        let revoked = try await read("could not revoke an API key") {
            try await client.query(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, \(now)) WHERE id = \(id) RETURNING id", logger: logger
            ).collect().count
        }
        guard revoked > 0 else { return false }
        logger.info("revoked an API key", metadata: ["deja.key_id": .string(id)])
        return true
    }

    /// The key's info for a presented secret, or nil when unknown or revoked.
    ///
    /// Always consults the database (one indexed lookup), so a call doubles as a readiness probe.
    public func authenticate(secret: String) async throws(LedgerError) -> APIKeyInfo? {
        let hash = ByteBuffer(bytes: APISecret.hash(secret.utf8.count <= 1024 ? secret : ""))
        return try await read("could not look up an API key") {
            try await Self.keyInfos(client.query(
                "SELECT id, tenant, name, created_at, revoked_at FROM api_keys WHERE secret_hash = \(hash) AND revoked_at IS NULL",
                logger: logger
            )).first
        }
    }

    private static func keyInfos(_ rows: PostgresRowSequence) async throws -> [APIKeyInfo] {
        var infos: [APIKeyInfo] = []
        for try await (id, tenant, name, createdAt, revokedAt) in rows.decode((String, String, String, Double, Double?).self) {
            infos.append(APIKeyInfo(id: id, tenant: tenant, name: name, createdAt: createdAt, revokedAt: revokedAt))
        }
        return infos
    }
}
