/// The ledger's PostgreSQL schema as an ordered list of migrations; migration `n` (1-based) upgrades a
/// database from version `n - 1` to `n`. Append new migrations; never edit a released one.
enum PostgresSchema {
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                name TEXT NOT NULL,
                secret_hash BYTEA NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            )
            """,
            "CREATE INDEX api_keys_tenant ON api_keys(tenant)",
            """
            CREATE TABLE usage (
                id BIGSERIAL PRIMARY KEY,
                time DOUBLE PRECISION NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                metered BIGINT NOT NULL,
                billed BIGINT NOT NULL,
                latency_us BIGINT NOT NULL,
                status BIGINT NOT NULL,
                model_seconds DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX usage_tenant_time ON usage(tenant, time)",
            "CREATE INDEX usage_tenant_key_time ON usage(tenant, key_id, time)",
            // Budgets; key_id '' is the whole tenant. `since` is where a prepaid balance starts counting.
            """
            CREATE TABLE quotas (
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                period TEXT NOT NULL,
                quota_limit BIGINT NOT NULL,
                since DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, key_id, period)
            )
            """,
            """
            CREATE TABLE reservations (
                id TEXT PRIMARY KEY,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                tokens BIGINT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            )
            """,
            "CREATE INDEX reservations_tenant_key ON reservations(tenant, key_id)",
            """
            CREATE TABLE idempotency (
                tenant TEXT NOT NULL,
                key TEXT NOT NULL,
                status BIGINT NOT NULL,
                headers TEXT NOT NULL,
                body BYTEA NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, key)
            )
            """,
            "CREATE INDEX idempotency_created_at ON idempotency(created_at)",
        ],
        [
            // Idempotency-Key bound to the request: the fingerprint of the request a stored answer answers
            // (NULL for answers stored before this version: they match no request), and claims of keys whose
            // request is being answered. `owner` is the claiming lease's id.
            """
            ALTER TABLE idempotency ADD COLUMN fingerprint BYTEA
                CONSTRAINT idempotency_fingerprint_length CHECK (octet_length(fingerprint) = 32)
            """,
            """
            CREATE TABLE idempotency_claims (
                tenant TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint BYTEA NOT NULL CONSTRAINT idempotency_claims_fingerprint_length CHECK (octet_length(fingerprint) = 32),
                owner TEXT NOT NULL,
                claimed_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, key)
            )
            """,
            "CREATE INDEX idempotency_claims_expires_at ON idempotency_claims(expires_at)",
        ],
        [
            // The content key each record answered (NULL before this version and for requests rejected
            // before a key was derived): what the most repeated requests are counted by.
            "ALTER TABLE usage ADD COLUMN content_key BYTEA CONSTRAINT usage_content_key_length CHECK (octet_length(content_key) = 32)",
        ],
        [
            // Gray release: shadow comparisons of a stable answer with a candidate version's; digests of
            // the answers only, never the answers.
            """
            CREATE TABLE gray_comparisons (
                id BIGSERIAL PRIMARY KEY,
                time DOUBLE PRECISION NOT NULL,
                task TEXT NOT NULL,
                stable_version TEXT NOT NULL,
                candidate_version TEXT NOT NULL,
                content_key TEXT NOT NULL,
                agree BOOLEAN NOT NULL,
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
                hour DOUBLE PRECISION NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status BIGINT NOT NULL,
                requests BIGINT NOT NULL,
                metered BIGINT NOT NULL,
                billed BIGINT NOT NULL,
                saved BIGINT NOT NULL,
                model_seconds_saved DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, hour, key_id, task, outcome, status)
            )
            """,
            // The same requests per content key, for the most repeated requests.
            """
            CREATE TABLE usage_keys (
                hour DOUBLE PRECISION NOT NULL,
                tenant TEXT NOT NULL,
                task TEXT NOT NULL,
                content_key BYTEA NOT NULL CONSTRAINT usage_keys_content_key_length CHECK (octet_length(content_key) = 32),
                requests BIGINT NOT NULL,
                cached BIGINT NOT NULL,
                saved BIGINT NOT NULL,
                first_seen DOUBLE PRECISION NOT NULL,
                last_seen DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, hour, task, content_key)
            )
            """,
            // The janitor drops the oldest hour first (retention).
            "CREATE INDEX usage_hourly_hour ON usage_hourly(hour)",
            "CREATE INDEX usage_keys_hour ON usage_keys(hour)",
        ],
        [
            // Billed records counted per hour as well, by a statement trigger in the inserting transaction:
            // reports and quotas read these for whole hours and records only at a range's ends
            // (``ReportSQL/HourSplit``). Same columns as `usage_hourly`. The lock keeps instances still
            // running an older Deja from inserting records between the fill and the trigger.
            "LOCK TABLE usage IN SHARE ROW EXCLUSIVE MODE",
            """
            CREATE TABLE usage_records_hourly (
                hour DOUBLE PRECISION NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                status BIGINT NOT NULL,
                requests BIGINT NOT NULL,
                metered BIGINT NOT NULL,
                billed BIGINT NOT NULL,
                saved BIGINT NOT NULL,
                model_seconds_saved DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (tenant, hour, key_id, task, outcome, status)
            )
            """,
            "CREATE INDEX usage_records_hourly_hour ON usage_records_hourly(hour)",
            """
            INSERT INTO usage_records_hourly (\(ReportSQL.countColumns))
            SELECT \(rolledUp) FROM usage GROUP BY 1, tenant, key_id, task, outcome, status
            """,
            // Rows of one statement are added in the table's key order, so concurrent inserts wait for
            // each other rather than deadlock.
            """
            CREATE FUNCTION usage_records_hourly_count() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO usage_records_hourly (\(ReportSQL.countColumns))
                SELECT \(rolledUp) FROM inserted GROUP BY 1, tenant, key_id, task, outcome, status
                ORDER BY tenant, 1, key_id, task, outcome, status
                ON CONFLICT (tenant, hour, key_id, task, outcome, status) DO UPDATE SET
                    requests = usage_records_hourly.requests + excluded.requests,
                    metered = usage_records_hourly.metered + excluded.metered,
                    billed = usage_records_hourly.billed + excluded.billed,
                    saved = usage_records_hourly.saved + excluded.saved,
                    model_seconds_saved = usage_records_hourly.model_seconds_saved + excluded.model_seconds_saved;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER usage_records_hourly_count AFTER INSERT ON usage REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION usage_records_hourly_count()
            """,
        ],
        [
            // Records partitioned by month of `time`, so retention drops a month's table instead of deleting
            // its rows (``PostgresLedger/preparePartitions(at:)`` creates months ahead; `usage_default`
            // holds a record no month has a partition for yet, until its month's partition takes it). The
            // records written before this version stay in one partition, `usage_before_partitions`, up to
            // just after the newest of them, and go by row until they are all past retention.
            "ALTER TABLE usage RENAME TO usage_before_partitions",
            "ALTER INDEX usage_tenant_time RENAME TO usage_before_partitions_tenant_time",
            "ALTER INDEX usage_tenant_key_time RENAME TO usage_before_partitions_tenant_key_time",
            "ALTER TABLE usage_before_partitions RENAME CONSTRAINT usage_pkey TO usage_before_partitions_pkey",
            "DROP TRIGGER usage_records_hourly_count ON usage_before_partitions",
            "ALTER SEQUENCE usage_id_seq OWNED BY NONE",
            """
            CREATE TABLE usage (
                id BIGINT NOT NULL DEFAULT nextval('usage_id_seq'),
                time DOUBLE PRECISION NOT NULL,
                tenant TEXT NOT NULL,
                key_id TEXT NOT NULL,
                task TEXT NOT NULL,
                outcome TEXT NOT NULL,
                metered BIGINT NOT NULL,
                billed BIGINT NOT NULL,
                latency_us BIGINT NOT NULL,
                status BIGINT NOT NULL,
                model_seconds DOUBLE PRECISION NOT NULL,
                content_key BYTEA CONSTRAINT usage_content_key_length CHECK (octet_length(content_key) = 32)
            ) PARTITION BY RANGE (time)
            """,
            "ALTER SEQUENCE usage_id_seq OWNED BY usage.id",
            "CREATE INDEX usage_tenant_time ON usage(tenant, time)",
            "CREATE INDEX usage_tenant_key_time ON usage(tenant, key_id, time)",
            """
            DO $$
            DECLARE newest DOUBLE PRECISION;
            BEGIN
                SELECT max(time) INTO newest FROM usage_before_partitions;
                IF newest IS NULL THEN
                    DROP TABLE usage_before_partitions;
                ELSE
                    EXECUTE format(
                        'ALTER TABLE usage ATTACH PARTITION usage_before_partitions FOR VALUES FROM (MINVALUE) TO (%s)', newest + 1
                    );
                END IF;
            END
            $$
            """,
            "CREATE TABLE usage_default PARTITION OF usage DEFAULT",
            // Retention deletes the default partition's old rows oldest id first, as it did the whole table's.
            "CREATE INDEX usage_default_id ON usage_default(id)",
            """
            CREATE TRIGGER usage_records_hourly_count AFTER INSERT ON usage REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION usage_records_hourly_count()
            """,
        ],
    ]

    /// A group of records as an hourly count's columns (`GROUP BY 1, tenant, key_id, task, outcome, status`).
    static let rolledUp = """
        floor(time / 3600) * 3600 AS hour, tenant, key_id, task, outcome, status, count(*), sum(metered), sum(billed),
        sum(CASE WHEN \(ReportSQL.cached) THEN metered - billed ELSE 0 END),
        sum(CASE WHEN \(ReportSQL.cached) THEN model_seconds ELSE 0 END)
        """

    /// The version a fully migrated database has.
    static var currentVersion: Int { migrations.count }

    /// The `pg_advisory_xact_lock` key migrations hold, so instances starting together migrate one at a time.
    static let migrationLock: Int64 = 0x6465_6A61_6C65_6467  // "dejaledg"

    /// The first `pg_try_advisory_xact_lock` key partition maintenance holds (the second is the schema's
    /// hash), so one instance at a time adds or drops a schema's partitions.
    static let partitionLock: Int32 = 0x6465_6A70  // "dejp"
}
