import PostgresNIO

extension PostgresLedger {
    /// Adds the monthly partitions of `usage` for the month holding `time` and the next (see
    /// ``UsagePartitions/missing(at:)``), the next first (its range is usually empty); records the default
    /// partition holds for a month move in. Called when the ledger opens and by the janitor on every
    /// sweep; one instance at a time does the work, and a month that fails does not hold up the other.
    ///
    /// The default partition is locked while its rows move and the partition is attached, so no record
    /// lands there in between; waiting for that lock is bounded by ``partitionLockTimeout`` (the next
    /// sweep tries again), so inserts never queue behind it for longer.
    public func preparePartitions(at time: Double) async throws(LedgerError) {
        var failure: LedgerError?
        for partition in try await partitions().missing(at: time).reversed() {
            guard let from = partition.from, let to = partition.to else { continue }
            do {
                let added = try await maintaining("could not add the usage partition \(partition.name)") { connection in
                    // Another instance may have added it since the plan was read.
                    guard try await !exists(partition.name, on: connection) else { return false }
                    try await connection.query("LOCK TABLE usage_default IN ACCESS EXCLUSIVE MODE", logger: logger)
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "CREATE TABLE \(partition.name) (LIKE usage INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
                        logger: logger
                    )
                    try await connection.query(
                        """
                        WITH moved AS (DELETE FROM usage_default WHERE time >= \(from) AND time < \(to) RETURNING *)
                        INSERT INTO \(unescaped: partition.name) SELECT * FROM moved
                        """,
                        logger: logger
                    )
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "ALTER TABLE usage ATTACH PARTITION \(partition.name) FOR VALUES FROM (\(from)) TO (\(to))"),
                        logger: logger
                    )
                    return true
                }
                if added == true { logger.info("added a usage partition", metadata: ["deja.ledger.partition": "\(partition.name)"]) }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    /// Drops the oldest partition wholly before `cutoff`, if any; returns its estimated rows (at least 1),
    /// or 0 when none is due or another instance is at it.
    func dropExpiredPartition(before cutoff: Double) async throws(LedgerError) -> Int {
        guard let oldest = try await partitions().expired(before: cutoff).first else { return 0 }
        let rows: Int? = try await maintaining("could not drop the usage partition \(oldest.name)") { connection in
            guard try await exists(oldest.name, on: connection) else { return 0 }
            var estimate = 0.0
            for try await tuples in try await connection.query(
                "SELECT reltuples::float8 FROM pg_class WHERE oid = \(oldest.name)::regclass", logger: logger
            ).decode(Double.self) {
                estimate = tuples
            }
            try await connection.query(PostgresQuery(unsafeSQL: "ALTER TABLE usage DETACH PARTITION \(oldest.name)"), logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "DROP TABLE \(oldest.name)"), logger: logger)
            return max(1, Int(estimate))
        }
        if let rows, rows > 0 {
            logger.info("dropped a usage partition past retention", metadata: ["deja.ledger.partition": "\(oldest.name)"])
        }
        return rows ?? 0
    }

    /// Whether a table of that name is in the ledger's schema.
    private func exists(_ table: String, on connection: PostgresConnection) async throws -> Bool {
        for try await found in try await connection.query("SELECT to_regclass(\(table)) IS NOT NULL", logger: logger).decode(Bool.self) {
            return found
        }
        return false
    }

    /// The partitions of `usage` now, but for the default one.
    func partitions() async throws(LedgerError) -> UsagePartitions {
        try await read("could not list the usage partitions") {
            var found: [UsagePartitions.Partition] = []
            let rows = try await client.query(
                """
                SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage'::regclass
                """,
                logger: logger
            )
            for try await (name, bound) in rows.decode((String, String).self) {
                if let partition = UsagePartitions.Partition(name: name, bound: bound) { found.append(partition) }
            }
            return UsagePartitions(partitions: found)
        }
    }

    /// Runs `body` in a transaction holding the partition lock with a short lock timeout; returns nil
    /// without running it when another instance holds the lock.
    @discardableResult
    private func maintaining<T: Sendable>(
        _ message: String, _ body: (PostgresConnection) async throws -> T
    ) async throws(LedgerError) -> T? {
        try await transaction(message) { connection in
            for try await locked in try await connection.query(
                // Per schema: ledgers in other schemas of the database partition their own tables.
                "SELECT pg_try_advisory_xact_lock(\(PostgresSchema.partitionLock), hashtext(current_schema()))", logger: logger
            ).decode(Bool.self) where !locked {
                return nil
            }
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(Self.partitionLockTimeout)'"), logger: logger)
            return try await body(connection)
        }
    }

    /// How long adding or dropping a partition waits for its table locks before giving up until the next sweep.
    static let partitionLockTimeout = "200ms"
}
