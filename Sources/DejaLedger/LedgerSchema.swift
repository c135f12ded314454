/// The ledger's SQLite schema as an ordered list of migrations; migration `n` (1-based) upgrades a
/// database from version `n - 1` to `n`. Append new migrations; never edit a released one.
enum LedgerSchema {
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY NOT NULL,
                tenant TEXT NOT NULL,
                name TEXT NOT NULL,
                secret_hash BLOB NOT NULL UNIQUE,
                created_at REAL NOT NULL,
                revoked_at REAL
            )
            """,
            "CREATE INDEX api_keys_tenant ON api_keys(tenant)",
            """
            CREATE TABLE usage (
                id INTEGER PRIMARY KEY,
                time REAL NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                metered INTEGER NOT NULL,
                billed INTEGER NOT NULL,
                latency_us INTEGER NOT NULL,
                status INTEGER NOT NULL,
                model_seconds REAL NOT NULL
            )
            """,
            "CREATE INDEX usage_tenant_time ON usage(tenant, time)",
        ],
    ]

    /// The version a fully migrated database has.
    static var currentVersion: Int { migrations.count }
}
