import PostgresNIO

extension PostgresLedger {
    /// Adds the monthly partitions of `usage` for the month holding `time` and the next (see
    /// ``UsagePartitions/missing(at:)``); records the default partition holds for those months move in.
    /// Called when the ledger opens and by the janitor on every sweep; one instance at a time does the work.
    ///
    /// Attaching takes a lock on the default partition; waiting for it is bounded by
    /// ``partitionLockTimeout`` (the next sweep tries again), so inserts never queue behind it for longer.
    public func preparePartitions(at time: Double) async throws(LedgerError) {
        let plan = try await partitions()
        for partition in plan.missing(at: time) {
            guard let from = partition.from, let to = partition.to else { continue }
            try await maintaining("could not add the usage partition \(partition.name)") { connection in
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
            }
            logger.info("added a usage partition", metadata: ["deja.ledger.partition": "\(partition.name)"])
        }
    }

    /// Drops the oldest partition wholly before `cutoff`, if any; returns its estimated rows (at least 1),
    /// or 0 when none is due.
    func dropExpiredPartition(before cutoff: Double) async throws(LedgerError) -> Int {
        guard let oldest = try await partitions().expired(before: cutoff).first else { return 0 }
        let rows: Int? = try await maintaining("could not drop the usage partition \(oldest.name)") { connection in
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
        if let rows { logger.info("dropped a usage partition past retention", metadata: ["deja.ledger.partition": "\(oldest.name)"]) }
        return rows ?? 0
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
                "SELECT pg_try_advisory_xact_lock(\(PostgresSchema.partitionLock))", logger: logger
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
