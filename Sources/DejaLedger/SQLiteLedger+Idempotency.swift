import Foundation
import NIOCore
import SQLiteNIO

extension SQLiteLedger {
    /// The response stored for `key` by `tenant`; nil when none or older than the retention time.
    public func idempotentResponse(tenant: String, key: String) async throws(LedgerError) -> IdempotentResponse? {
        let cutoff = clock.now() - options.idempotencyRetention
        let rows = try await read("could not look up an idempotent response") {
            try await reader.query(
                "SELECT status, headers, body, created_at FROM idempotency WHERE tenant = ? AND key = ? AND created_at >= ?",
                [.text(tenant), .text(key), .float(cutoff)]
            )
        }
        guard let row = rows.first else { return nil }
        var body = row.column("body")?.blob ?? ByteBuffer()
        return IdempotentResponse(
            status: row.column("status")?.integer ?? 0,
            headers: IdempotencyCodec.headers(row.column("headers")?.string ?? "{}"),
            body: body.readBytes(length: body.readableBytes) ?? [],
            createdAt: row.column("created_at")?.double ?? 0
        )
    }

    /// Stores `response` with its billed `records`, settling `settling`, in one transaction; throws
    /// `idempotencyConflict` (after releasing `settling`, having written nothing) when the key is taken.
    public func storeIdempotentResponse(
        _ response: IdempotentResponse,
        tenant: String,
        key: String,
        records: [UsageRecord],
        settling: [Reservation]
    ) async throws(LedgerError) {
        let cutoff = clock.now() - options.idempotencyRetention
        let headers = IdempotencyCodec.json(response.headers)
        try await write("could not store an idempotent response") {
            do {
                try await transaction {
                    // Takes the key unless a response younger than the retention time holds it.
                    let taken = try await writer.query(
                        """
                        INSERT INTO idempotency (tenant, key, status, headers, body, created_at) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (tenant, key) DO UPDATE SET status = excluded.status, headers = excluded.headers,
                            body = excluded.body, created_at = excluded.created_at
                        WHERE idempotency.created_at < ?
                        RETURNING tenant
                        """,
                        [
                            .text(tenant), .text(key), .integer(response.status), .text(headers),
                            .blob(ByteBuffer(bytes: response.body)), .float(response.createdAt), .float(cutoff),
                        ]
                    )
                    guard !taken.isEmpty else { throw LedgerError.duplicateIdempotencyKey }
                    try await insert(records)
                    try await deleteReservations(settling.map(\.id))
                }
            } catch let error as LedgerError where error.code == .idempotencyConflict {
                try await deleteReservations(settling.map(\.id))
                throw error
            }
        }
    }

    /// Deletes stored responses older than the retention time and reservations past their expiry.
    public func purgeExpired() async throws(LedgerError) -> (idempotentResponses: Int, reservations: Int) {
        let now = clock.now()
        return try await write("could not purge expired entries") {
            let responses = try await writer.query(
                "DELETE FROM idempotency WHERE created_at < ? RETURNING tenant", [.float(now - options.idempotencyRetention)]
            )
            let reservations = try await writer.query("DELETE FROM reservations WHERE expires_at <= ? RETURNING id", [.float(now)])
            return (responses.count, reservations.count)
        }
    }
}
