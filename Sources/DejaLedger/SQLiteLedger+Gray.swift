import SQLiteNIO

extension SQLiteLedger {
    /// Appends one shadow comparison of a gray release; durable when it returns.
    public func recordComparison(_ comparison: GrayComparison) async throws(LedgerError) {
        try await write("could not record a gray comparison") {
            _ = try await writer.query(
                """
                INSERT INTO gray_comparisons (time, task, stable_version, candidate_version, content_key, agree, difference,
                                              stable_digest, candidate_digest)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .float(comparison.time), .text(comparison.task), .text(comparison.stableVersion), .text(comparison.candidateVersion),
                    .text(comparison.key), .integer(comparison.agree ? 1 : 0), comparison.difference.map(SQLiteData.text) ?? .null,
                    .text(comparison.stableDigest), .text(comparison.candidateDigest),
                ]
            )
        }
    }

    /// Comparisons and agreements per task and pair of versions, with the most recent disagreements.
    public func grayReport(_ query: GrayQuery) async throws(LedgerError) -> [GrayReportRow] {
        let statements = query.statements(postgres: false)
        let binds = statements.binds.map(Self.sqliteData)
        let (counts, disagreements) = try await read("could not build the gray report") {
            (try await reader.query(statements.counts, binds), try await reader.query(statements.disagreements, binds))
        }
        return GrayQuery.rows(
            counts: counts.map { row in
                GrayReportRow(
                    task: row.column("task")?.string ?? "", stableVersion: row.column("stable_version")?.string ?? "",
                    candidateVersion: row.column("candidate_version")?.string ?? "",
                    compared: Int64(row.column("compared")?.integer ?? 0), agreed: Int64(row.column("agreed")?.integer ?? 0), examples: [])
            },
            disagreements: disagreements.map { row in
                GrayComparison(
                    time: row.column("time")?.double ?? 0, task: row.column("task")?.string ?? "",
                    stableVersion: row.column("stable_version")?.string ?? "", candidateVersion: row.column("candidate_version")?.string ?? "",
                    key: row.column("content_key")?.string ?? "", agree: false, difference: row.column("difference")?.string,
                    stableDigest: row.column("stable_digest")?.string ?? "", candidateDigest: row.column("candidate_digest")?.string ?? "")
            }
        )
    }
}
