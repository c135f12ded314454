import NIOCore
import PostgresNIO

extension PostgresLedger {
    /// The response stored for `key` by `tenant`; nil when none or older than the retention time.
    public func idempotentResponse(tenant: String, key: String) async throws(LedgerError) -> IdempotentResponse? {
        let cutoff = clock.now() - options.idempotencyRetention
        return try await read("could not look up an idempotent response") {
            let rows = try await client.query(
                """
                SELECT status, headers, body, created_at FROM idempotency
                WHERE tenant = \(tenant) AND key = \(key) AND created_at >= \(cutoff)
                """,
                logger: logger
            )
            for try await (status, headers, body, createdAt) in rows.decode((Int64, String, ByteBuffer, Double).self) {
                return IdempotentResponse(
                    status: Int(status),
                    headers: IdempotencyCodec.headers(headers),
                    body: Array(body.readableBytesView),
                    createdAt: createdAt
                )
            }
            return nil
        }
    }

    /// Stores `response` with its billed `records`, settling `settling`, in one transaction; throws
    /// `idempotencyConflict` (after releasing `settling`, having written nothing) when the key is taken.
    ///
    /// A concurrent duplicate waits on the key's unique index until the first commits, then finds it taken.
    public func storeIdempotentResponse(
        _ response: IdempotentResponse,
        tenant: String,
        key: String,
        records: [UsageRecord],
        settling: [Reservation]
    ) async throws(LedgerError) {
        let cutoff = clock.now() - options.idempotencyRetention
        let headers = IdempotencyCodec.json(response.headers)
        let body = ByteBuffer(bytes: response.body)
        let status = Int64(response.status)
        do throws(LedgerError) {
            try await transaction("could not store an idempotent response") { connection in
                // Takes the key unless a response younger than the retention time holds it.
                let taken = try await connection.query(
                    """
                    INSERT INTO idempotency (tenant, key, status, headers, body, created_at)
                    VALUES (\(tenant), \(key), \(status), \(headers), \(body), \(response.createdAt))
                    ON CONFLICT (tenant, key) DO UPDATE SET status = excluded.status, headers = excluded.headers,
                        body = excluded.body, created_at = excluded.created_at
                    WHERE idempotency.created_at < \(cutoff)
                    RETURNING tenant
                    """,
                    logger: logger
                ).collect()
                guard !taken.isEmpty else { throw LedgerError.duplicateIdempotencyKey }
                try await insert(records, on: connection)
                try await deleteReservations(settling.map(\.id), on: connection)
            }
        } catch where error.code == .idempotencyConflict {
            let ids = settling.map(\.id)
            if !ids.isEmpty {
                try await read("could not release reservations") {
                    try await client.query("DELETE FROM reservations WHERE id = ANY(\(ids))", logger: logger)
                }
            }
            throw error
        }
    }

    /// Deletes stored responses older than the retention time and reservations past their expiry.
    public func purgeExpired() async throws(LedgerError) -> (idempotentResponses: Int, reservations: Int) {
        let now = clock.now()
        let cutoff = now - options.idempotencyRetention
        return try await read("could not purge expired entries") {
            let responses = try await client.query(
                "DELETE FROM idempotency WHERE created_at < \(cutoff) RETURNING tenant", logger: logger
            ).collect().count
            let reservations = try await client.query(
                "DELETE FROM reservations WHERE expires_at <= \(now) RETURNING id", logger: logger
            ).collect().count
            return (responses, reservations)
        }
    }
}
