import Foundation
import NIOCore
import SQLiteNIO

extension SQLiteLedger {
    /// Claims `key` for the request with `fingerprint`; see ``Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)``.
    ///
    /// A key already decided (answered, or claimed by a live lease) costs one read and no write. Otherwise
    /// the check and the claim run in one write transaction, which SQLite serialises across connections and
    /// processes, so two claimers never both get the key.
    public func claimIdempotency(
        tenant: String, key: String, fingerprint: IdempotencyFingerprint, at time: Double, leaseSeconds: Double
    ) async throws(LedgerError) -> IdempotencyClaim {
        try IdempotencyCheck.validateClaim(tenant: tenant, key: key, at: time, leaseSeconds: leaseSeconds)
        let seen = try await read("could not look up an Idempotency-Key") {
            try await idempotencyVerdict(tenant: tenant, key: key, fingerprint: fingerprint, at: time, on: reader)
        }
        if let decided = IdempotencyCheck.claim(seen) { return decided }
        let lease = IdempotencyLease(
            tenant: tenant, key: key, fingerprint: fingerprint, id: IdempotencyCheck.newLeaseID(), expiresAt: time + leaseSeconds
        )
        return try await write("could not claim an Idempotency-Key") {
            var result = IdempotencyClaim.claimed(lease)
            try await transaction {
                let verdict = try await idempotencyVerdict(tenant: tenant, key: key, fingerprint: fingerprint, at: time, on: writer)
                if let decided = IdempotencyCheck.claim(verdict) {
                    result = decided
                    return
                }
                _ = try await writer.query(
                    """
                    INSERT INTO idempotency_claims (tenant, key, fingerprint, owner, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, owner = excluded.owner,
                        claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
                    """,
                    [
                        .text(tenant), .text(key), .blob(ByteBuffer(bytes: fingerprint.bytes)), .text(lease.id),
                        .float(time), .float(lease.expiresAt),
                    ]
                )
            }
            return result
        }
    }

    /// Gives a claimed key back; a no-op when the lease no longer holds it.
    public func releaseIdempotency(_ lease: IdempotencyLease) async throws(LedgerError) {
        _ = try await write("could not release an Idempotency-Key") {
            try await writer.query(
                "DELETE FROM idempotency_claims WHERE tenant = ? AND key = ? AND owner = ?",
                [.text(lease.tenant), .text(lease.key), .text(lease.id)]
            )
        }
    }

    /// Stores `response` for the request with `fingerprint`, with its billed `records`, settling `settling`,
    /// and ends the key's claim, in one transaction; throws `idempotencyConflict` or `idempotencyMismatch`
    /// (after releasing `settling`, having written nothing) when the key is not free for this request.
    public func storeIdempotentResponse(
        _ response: IdempotentResponse,
        tenant: String,
        key: String,
        fingerprint: IdempotencyFingerprint,
        records: [UsageRecord],
        settling: [Reservation]
    ) async throws(LedgerError) {
        let now = clock.now()
        let headers = IdempotencyCodec.json(response.headers)
        try await write("could not store an idempotent response") {
            do {
                try await transaction {
                    let verdict = try await idempotencyVerdict(tenant: tenant, key: key, fingerprint: fingerprint, at: now, on: writer)
                    if let refusal = IdempotencyCheck.completionError(verdict) { throw refusal }
                    _ = try await writer.query(
                        """
                        INSERT INTO idempotency (tenant, key, status, headers, body, created_at, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (tenant, key) DO UPDATE SET status = excluded.status, headers = excluded.headers,
                            body = excluded.body, created_at = excluded.created_at, fingerprint = excluded.fingerprint
                        """,
                        [
                            .text(tenant), .text(key), .integer(response.status), .text(headers),
                            .blob(ByteBuffer(bytes: response.body)), .float(response.createdAt),
                            .blob(ByteBuffer(bytes: fingerprint.bytes)),
                        ]
                    )
                    _ = try await writer.query("DELETE FROM idempotency_claims WHERE tenant = ? AND key = ?", [.text(tenant), .text(key)])
                    try await insert(records)
                    try await deleteReservations(settling.map(\.id))
                }
            } catch let error as LedgerError where error.code == .idempotencyConflict || error.code == .idempotencyMismatch {
                try await deleteReservations(settling.map(\.id))
                throw error
            }
        }
    }

    /// The answer stored for `key` by `tenant` and its request's fingerprint; nil when none or older than the retention time.
    public func idempotentResponse(
        tenant: String, key: String
    ) async throws(LedgerError) -> (response: IdempotentResponse, fingerprint: IdempotencyFingerprint?)? {
        let cutoff = clock.now() - options.idempotencyRetention
        let answer = try await read("could not look up an idempotent response") {
            try await storedAnswer(tenant: tenant, key: key, on: reader)
        }
        guard let answer, answer.response.createdAt >= cutoff else { return nil }
        return (answer.response, answer.fingerprint)
    }

    /// Deletes stored answers older than the retention time, claims past their lease, and reservations past their expiry.
    public func purgeExpired() async throws(LedgerError) -> (idempotentResponses: Int, reservations: Int) {
        let now = clock.now()
        return try await write("could not purge expired entries") {
            let responses = try await writer.query(
                "DELETE FROM idempotency WHERE created_at < ? RETURNING tenant", [.float(now - options.idempotencyRetention)]
            )
            let claims = try await writer.query("DELETE FROM idempotency_claims WHERE expires_at <= ? RETURNING tenant", [.float(now)])
            let reservations = try await writer.query("DELETE FROM reservations WHERE expires_at <= ? RETURNING id", [.float(now)])
            return (responses.count + claims.count, reservations.count)
        }
    }

    /// What the key's answer and claim say to the request with `fingerprint` at `time`.
    private func idempotencyVerdict(
        tenant: String, key: String, fingerprint: IdempotencyFingerprint, at time: Double, on connection: SQLiteConnection
    ) async throws -> IdempotencyCheck.Verdict {
        let answer = try await storedAnswer(tenant: tenant, key: key, on: connection)
        let claim = try await connection.query(
            "SELECT fingerprint, expires_at FROM idempotency_claims WHERE tenant = ? AND key = ?", [.text(tenant), .text(key)]
        ).first.map { row in
            IdempotencyCheck.Claim(
                fingerprint: Self.fingerprint(row.column("fingerprint")), expiresAt: row.column("expires_at")?.double ?? 0
            )
        }
        return IdempotencyCheck.verdict(
            answer: answer, claim: claim, fingerprint: fingerprint, now: time, retention: options.idempotencyRetention
        )
    }

    /// The key's stored answer, however old.
    private func storedAnswer(tenant: String, key: String, on connection: SQLiteConnection) async throws -> IdempotencyCheck.Answer? {
        let rows = try await connection.query(
            "SELECT status, headers, body, created_at, fingerprint FROM idempotency WHERE tenant = ? AND key = ?",
            [.text(tenant), .text(key)]
        )
        guard let row = rows.first else { return nil }
        var body = row.column("body")?.blob ?? ByteBuffer()
        let response = IdempotentResponse(
            status: row.column("status")?.integer ?? 0,
            headers: IdempotencyCodec.headers(row.column("headers")?.string ?? "{}"),
            body: body.readBytes(length: body.readableBytes) ?? [],
            createdAt: row.column("created_at")?.double ?? 0
        )
        return IdempotencyCheck.Answer(response: response, fingerprint: Self.fingerprint(row.column("fingerprint")))
    }

    private static func fingerprint(_ data: SQLiteData?) -> IdempotencyFingerprint? {
        guard let blob = data?.blob else { return nil }
        return IdempotencyFingerprint(bytes: blob.readableBytesView)
    }
}
