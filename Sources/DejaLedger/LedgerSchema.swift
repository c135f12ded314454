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
        [
            // Budgets; key_id '' is the whole tenant. `since` is where a prepaid balance starts counting.
            """
            CREATE TABLE quotas (
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                period TEXT NOT NULL,
                quota_limit INTEGER NOT NULL,
                since REAL NOT NULL,
                PRIMARY KEY (tenant, key_id, period)
            )
            """,
            """
            CREATE TABLE reservations (
                id TEXT PRIMARY KEY NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                tokens INTEGER NOT NULL,
                time REAL NOT NULL,
                expires_at REAL NOT NULL
            )
            """,
            "CREATE INDEX reservations_tenant_key ON reservations(tenant, key_id)",
            """
            CREATE TABLE idempotency (
                tenant TEXT NOT NULL,
                key TEXT NOT NULL,
                status INTEGER NOT NULL,
                headers TEXT NOT NULL,
                body BLOB NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (tenant, key)
            )
            """,
            "CREATE INDEX idempotency_created_at ON idempotency(created_at)",
            "CREATE INDEX usage_tenant_key_time ON usage(tenant, key_id, time)",
        ],
        [
            // Idempotency-Key bound to the request: the fingerprint of the request a stored answer answers
            // (NULL for answers stored before this version: they match no request), and claims of keys whose
            // request is being answered. `owner` is the claiming lease's id.
            "ALTER TABLE idempotency ADD COLUMN fingerprint BLOB",
            """
            CREATE TABLE idempotency_claims (
                tenant TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint BLOB NOT NULL,
                owner TEXT NOT NULL,
                claimed_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                PRIMARY KEY (tenant, key)
            )
            """,
            "CREATE INDEX idempotency_claims_expires_at ON idempotency_claims(expires_at)",
        ],
        [
            // The content key each record answered (NULL before this version and for requests rejected
            // before a key was derived): what the most repeated requests are counted by.
            "ALTER TABLE usage ADD COLUMN content_key BLOB",
        ],
        [
            // Gray release: shadow comparisons of a stable answer with a candidate version's; digests of
            // the answers only, never the answers.
            """
            CREATE TABLE gray_comparisons (
                id INTEGER PRIMARY KEY,
                time REAL NOT NULL,
                task TEXT NOT NULL,
                stable_version TEXT NOT NULL,
                candidate_version TEXT NOT NULL,
                content_key TEXT NOT NULL,
                agree INTEGER NOT NULL,
                difference TEXT,
                stable_digest TEXT NOT NULL,
                candidate_digest TEXT NOT NULL
            )
            """,
            "CREATE INDEX gray_comparisons_task_time ON gray_comparisons(task, time)",
        ],
        [
            // Requests that bill nothing (hits, coalesced answers, errors) counted per hour instead of one
            // `usage` row each (``UsageTally``): `hour` is the start of the UTC hour. Reports add these to
            // the rows; a request is in one or the other, never both.
            """
            CREATE TABLE usage_hourly (
                hour REAL NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                metered INTEGER NOT NULL,
                billed INTEGER NOT NULL,
                saved INTEGER NOT NULL,
                model_seconds_saved REAL NOT NULL,
                PRIMARY KEY (tenant, hour, key_id, task, outcome, status)
            ) WITHOUT ROWID
            """,
            // The same requests per content key, for the most repeated requests.
            """
            CREATE TABLE usage_keys (
                hour REAL NOT NULL,
                tenant TEXT NOT NULL,
                task TEXT NOT NULL,
                content_key BLOB NOT NULL,
                requests INTEGER NOT NULL,
                cached INTEGER NOT NULL,
                saved INTEGER NOT NULL,
                first_seen REAL NOT NULL,
                last_seen REAL NOT NULL,
                PRIMARY KEY (tenant, hour, task, content_key)
            ) WITHOUT ROWID
            """,
            // The janitor drops the oldest hour first (retention).
            "CREATE INDEX usage_hourly_hour ON usage_hourly(hour)",
            "CREATE INDEX usage_keys_hour ON usage_keys(hour)",
        ],
        [
            // Billed records counted per hour as well, by a trigger in the inserting transaction: reports and
            // quotas read these for whole hours and records only at a range's ends (``ReportSQL/HourSplit``).
            // Same columns as `usage_hourly`; `hour` is the start of the record's UTC hour.
            """
            CREATE TABLE usage_records_hourly (
                hour REAL NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                metered INTEGER NOT NULL,
                billed INTEGER NOT NULL,
                saved INTEGER NOT NULL,
                model_seconds_saved REAL NOT NULL,
                PRIMARY KEY (tenant, hour, key_id, task, outcome, status)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX usage_records_hourly_hour ON usage_records_hourly(hour)",
            """
            INSERT INTO usage_records_hourly (\(ReportSQL.countColumns))
            SELECT CAST(time / 3600 AS INTEGER) * 3600.0 AS hour, tenant, key_id, task, outcome, status, count(*), sum(metered),
                sum(billed), sum(CASE WHEN \(ReportSQL.cached) THEN metered - billed ELSE 0 END),
                sum(CASE WHEN \(ReportSQL.cached) THEN model_seconds ELSE 0 END)
            FROM usage GROUP BY 1, tenant, key_id, task, outcome, status
            """,
            """
            CREATE TRIGGER usage_records_hourly_count AFTER INSERT ON usage BEGIN
                INSERT INTO usage_records_hourly (\(ReportSQL.countColumns))
                VALUES (
                    CAST(NEW.time / 3600 AS INTEGER) * 3600.0, NEW.tenant, NEW.key_id, NEW.task, NEW.outcome, NEW.status, 1,
                    NEW.metered, NEW.billed,
                    CASE WHEN NEW.outcome IN ('hit', 'coalesced', 'stale') THEN NEW.metered - NEW.billed ELSE 0 END,
                    CASE WHEN NEW.outcome IN ('hit', 'coalesced', 'stale') THEN NEW.model_seconds ELSE 0 END
                )
                ON CONFLICT (tenant, hour, key_id, task, outcome, status) DO UPDATE SET
                    requests = requests + 1, metered = metered + excluded.metered, billed = billed + excluded.billed,
                    saved = saved + excluded.saved, model_seconds_saved = model_seconds_saved + excluded.model_seconds_saved;
            END
            """,
        ],
        [
            // The same trigger without `outcome IN (…)`: SQLite reads a list of three or more values through a
            // temporary b-tree, which every billed insert opened and freed (a page cache each time, and glibc
            // handing its pages back to the kernel: about one madvise call and 13 page faults per billed miss).
            "DROP TRIGGER usage_records_hourly_count",
            """
            CREATE TRIGGER usage_records_hourly_count AFTER INSERT ON usage BEGIN
                INSERT INTO usage_records_hourly (\(ReportSQL.countColumns))
                VALUES (
                    CAST(NEW.time / 3600 AS INTEGER) * 3600.0, NEW.tenant, NEW.key_id, NEW.task, NEW.outcome, NEW.status, 1,
                    NEW.metered, NEW.billed,
                    CASE WHEN \(cachedOutcome("NEW.outcome")) THEN NEW.metered - NEW.billed ELSE 0 END,
                    CASE WHEN \(cachedOutcome("NEW.outcome")) THEN NEW.model_seconds ELSE 0 END
                )
                ON CONFLICT (tenant, hour, key_id, task, outcome, status) DO UPDATE SET
                    requests = requests + 1, metered = metered + excluded.metered, billed = billed + excluded.billed,
                    saved = saved + excluded.saved, model_seconds_saved = model_seconds_saved + excluded.model_seconds_saved;
            END
            """,
        ],
    ]

    /// Whether `column` names an answer served from cache (hit, coalesced, stale), as comparisons a
    /// statement evaluates in place (``ReportSQL/cached`` says the same with `IN`).
    static func cachedOutcome(_ column: String) -> String {
        "(\(column) = 'hit' OR \(column) = 'coalesced' OR \(column) = 'stale')"
    }

    /// The version a fully migrated database has.
    static var currentVersion: Int { migrations.count }
}
