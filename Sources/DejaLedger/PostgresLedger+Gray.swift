import PostgresNIO

extension PostgresLedger {
    /// Appends one shadow comparison of a gray release; durable when it returns.
    public func recordComparison(_ comparison: GrayComparison) async throws(LedgerError) {
        try await read("could not record a gray comparison") {
            try await client.query(
                """
                INSERT INTO gray_comparisons (time, task, stable_version, candidate_version, content_key, agree, difference,
                                              stable_digest, candidate_digest)
                VALUES (\(comparison.time), \(comparison.task), \(comparison.stableVersion), \(comparison.candidateVersion),
                        \(comparison.key), \(comparison.agree), \(comparison.difference), \(comparison.stableDigest),
                        \(comparison.candidateDigest))
                """,
                logger: logger
            )
        }
    }

    /// Comparisons and agreements per task and pair of versions, with the most recent disagreements.
    public func grayReport(_ query: GrayQuery) async throws(LedgerError) -> [GrayReportRow] {
        let statements = query.statements(postgres: true)
        let binds = Self.bindings(statements.binds)
        return try await read("could not build the gray report") {
            var counts: [GrayReportRow] = []
            let countRows = try await client.query(PostgresQuery(unsafeSQL: statements.counts, binds: binds), logger: logger)
            for try await (task, stable, candidate, compared, agreed) in countRows.decode((String, String, String, Int64, Int64).self) {
                counts.append(GrayReportRow(task: task, stableVersion: stable, candidateVersion: candidate, compared: compared,
                                            agreed: agreed, examples: []))
            }
            var disagreements: [GrayComparison] = []
            let rows = try await client.query(PostgresQuery(unsafeSQL: statements.disagreements, binds: binds), logger: logger)
            for try await (time, task, stable, candidate, key, difference, stableDigest, candidateDigest, _) in rows.decode(
                (Double, String, String, String, String, String?, String, String, Int64).self
            ) {
                disagreements.append(GrayComparison(
                    time: time, task: task, stableVersion: stable, candidateVersion: candidate, key: key, agree: false,
                    difference: difference, stableDigest: stableDigest, candidateDigest: candidateDigest))
            }
            return GrayQuery.rows(counts: counts, disagreements: disagreements)
        }
    }
}
