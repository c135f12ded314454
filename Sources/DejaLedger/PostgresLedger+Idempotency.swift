import NIOCore
import PostgresNIO

extension PostgresLedger {
    /// Claims `key` for the request with `fingerprint`; see ``Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)``.
    ///
    /// A key already decided (answered, or claimed by a live lease) costs two reads and no write. Otherwise
    /// one transaction inserts the claim, or takes over an expired one, with `INSERT … ON CONFLICT DO UPDATE
    /// … WHERE expired`: of two instances claiming at once, one inserts and the other waits on the key's row
    /// lock, then finds the key held. The stored answer is read after the claim row is locked, so an answer
    /// committed meanwhile is seen, and the claim is withdrawn in its favour.
    public func claimIdempotency(
        tenant: String, key: String, fingerprint: IdempotencyFingerprint, at time: Double, leaseSeconds: Double
    ) async throws(LedgerError) -> IdempotencyClaim {
        try IdempotencyCheck.validateClaim(tenant: tenant, key: key, at: time, leaseSeconds: leaseSeconds)
        let seen = try await read("could not look up an Idempotency-Key") {
            try await client.withConnection { connection in
                let answer = try await storedAnswer(tenant: tenant, key: key, on: connection)
                let claim = try await storedClaim(tenant: tenant, key: key, on: connection)
                return IdempotencyCheck.verdict(
                    answer: answer, claim: claim, fingerprint: fingerprint, now: time, retention: options.idempotencyRetention
                )
            }
        }
        if let decided = IdempotencyCheck.claim(seen) { return decided }
        let lease = IdempotencyLease(
            tenant: tenant, key: key, fingerprint: fingerprint, id: IdempotencyCheck.newLeaseID(), expiresAt: time + leaseSeconds
        )
        let print = ByteBuffer(bytes: fingerprint.bytes)
        return try await transaction("could not claim an Idempotency-Key") { connection in
            let taken = try await connection.query(
                """
                INSERT INTO idempotency_claims (tenant, key, fingerprint, owner, claimed_at, expires_at)
                VALUES (\(tenant), \(key), \(print), \(lease.id), \(time), \(lease.expiresAt))
                ON CONFLICT (tenant, key) DO UPDATE SET fingerprint = excluded.fingerprint, owner = excluded.owner,
                    claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
                WHERE idempotency_claims.expires_at <= \(time)
                RETURNING owner
                """,
                logger: logger
            ).collect()
            // The claim row is ours, or locked by the conflict: nobody changes it until this commits.
            let answer = try await storedAnswer(tenant: tenant, key: key, on: connection)
            var claim: IdempotencyCheck.Claim?
            if taken.isEmpty { claim = try await storedClaim(tenant: tenant, key: key, on: connection) }
            let verdict = IdempotencyCheck.verdict(
                answer: answer, claim: claim, fingerprint: fingerprint, now: time, retention: options.idempotencyRetention
            )
            guard let decided = IdempotencyCheck.claim(verdict) else {
                // Not taken yet free: the row lock rules this out; should it happen, the caller asks again.
                return taken.isEmpty ? IdempotencyClaim.inProgress(until: time) : .claimed(lease)
            }
            if !taken.isEmpty {
                try await connection.query(
                    "DELETE FROM idempotency_claims WHERE tenant = \(tenant) AND key = \(key) AND owner = \(lease.id)", logger: logger
                )
            }
            return decided
        }
    }

    /// Gives a claimed key back; a no-op when the lease no longer holds it.
    public func releaseIdempotency(_ lease: IdempotencyLease) async throws(LedgerError) {
        try await read("could not release an Idempotency-Key") {
            try await client.query(
                "DELETE FROM idempotency_claims WHERE tenant = \(lease.tenant) AND key = \(lease.key) AND owner = \(lease.id)",
                logger: logger
            )
        }
    }

    /// Stores `response` for the request with `fingerprint`, with its billed `records`, settling `settling`,
    /// and ends the key's claim, in one transaction; throws `idempotencyConflict` or `idempotencyMismatch`
    /// (after releasing `settling`, having written nothing) when the key is not free for this request.
    ///
    /// The key's claim row is locked first (`FOR UPDATE`), then the answer is inserted unless a live one holds
    /// the key; a concurrent completion waits on the claim row or on the key's unique index until the first
    /// commits, then finds the key answered.
    public func storeIdempotentResponse(
        _ response: IdempotentResponse,
        tenant: String,
        key: String,
        fingerprint: IdempotencyFingerprint,
        records: [UsageRecord],
        settling: [Reservation]
    ) async throws(LedgerError) {
        let now = clock.now()
        let cutoff = now - options.idempotencyRetention
        let headers = IdempotencyCodec.json(response.headers)
        let body = ByteBuffer(bytes: response.body)
        let status = Int64(response.status)
        let print = ByteBuffer(bytes: fingerprint.bytes)
        do throws(LedgerError) {
            try await transaction("could not store an idempotent response") { connection in
                func verdict() async throws -> IdempotencyCheck.Verdict {
                    let claim = try await storedClaim(tenant: tenant, key: key, on: connection, locking: true)
                    let answer = try await storedAnswer(tenant: tenant, key: key, on: connection)
                    return IdempotencyCheck.verdict(
                        answer: answer, claim: claim, fingerprint: fingerprint, now: now, retention: options.idempotencyRetention
                    )
                }
                if let refusal = IdempotencyCheck.completionError(try await verdict()) { throw refusal }
                // Takes the key unless an answer younger than the retention time holds it (one committed since the check).
                let taken = try await connection.query(
                    """
                    INSERT INTO idempotency (tenant, key, status, headers, body, created_at, fingerprint)
                    VALUES (\(tenant), \(key), \(status), \(headers), \(body), \(response.createdAt), \(print))
                    ON CONFLICT (tenant, key) DO UPDATE SET status = excluded.status, headers = excluded.headers,
                        body = excluded.body, created_at = excluded.created_at, fingerprint = excluded.fingerprint
                    WHERE idempotency.created_at < \(cutoff)
                    RETURNING tenant
                    """,
                    logger: logger
                ).collect()
                guard !taken.isEmpty else {
                    let answered = try await verdict()
                    throw IdempotencyCheck.completionError(answered) ?? LedgerError.duplicateIdempotencyKey
                }
                try await connection.query("DELETE FROM idempotency_claims WHERE tenant = \(tenant) AND key = \(key)", logger: logger)
                try await insert(records, on: connection)
                try await deleteReservations(settling.map(\.id), on: connection)
            }
        } catch where error.code == .idempotencyConflict || error.code == .idempotencyMismatch {
            let ids = settling.map(\.id)
            if !ids.isEmpty {
                try await read("could not release reservations") {
                    try await client.query("DELETE FROM reservations WHERE id = ANY(\(ids))", logger: logger)
                }
            }
            throw error
        }
    }

    /// The answer stored for `key` by `tenant` and its request's fingerprint; nil when none or older than the retention time.
    public func idempotentResponse(
        tenant: String, key: String
    ) async throws(LedgerError) -> (response: IdempotentResponse, fingerprint: IdempotencyFingerprint?)? {
        let cutoff = clock.now() - options.idempotencyRetention
        let answer = try await read("could not look up an idempotent response") {
            try await client.withConnection { connection in try await storedAnswer(tenant: tenant, key: key, on: connection) }
        }
        guard let answer, answer.response.createdAt >= cutoff else { return nil }
        return (answer.response, answer.fingerprint)
    }

    /// Deletes stored answers older than the retention time, claims past their lease, and reservations past their expiry.
    public func purgeExpired() async throws(LedgerError) -> (idempotentResponses: Int, reservations: Int) {
        let now = clock.now()
        let cutoff = now - options.idempotencyRetention
        return try await read("could not purge expired entries") {
            let responses = try await client.query(
                "DELETE FROM idempotency WHERE created_at < \(cutoff) RETURNING tenant", logger: logger
            ).collect().count
            let claims = try await client.query(
                "DELETE FROM idempotency_claims WHERE expires_at <= \(now) RETURNING tenant", logger: logger
            ).collect().count
            let reservations = try await client.query(
                "DELETE FROM reservations WHERE expires_at <= \(now) RETURNING id", logger: logger
            ).collect().count
            return (responses + claims, reservations)
        }
    }

    /// The key's stored answer, however old.
    private func storedAnswer(tenant: String, key: String, on connection: PostgresConnection) async throws -> IdempotencyCheck.Answer? {
        let rows = try await connection.query(
            "SELECT status, headers, body, created_at, fingerprint FROM idempotency WHERE tenant = \(tenant) AND key = \(key)",
            logger: logger
        )
        for try await (status, headers, body, createdAt, print) in rows.decode((Int64, String, ByteBuffer, Double, ByteBuffer?).self) {
            let response = IdempotentResponse(
                status: Int(status), headers: IdempotencyCodec.headers(headers), body: Array(body.readableBytesView), createdAt: createdAt
            )
            return IdempotencyCheck.Answer(response: response, fingerprint: print.flatMap { IdempotencyFingerprint(bytes: $0.readableBytesView) })
        }
        return nil
    }

    /// The key's claim, however old; `locking` takes its row lock until the transaction ends.
    private func storedClaim(
        tenant: String, key: String, on connection: PostgresConnection, locking: Bool = false
    ) async throws -> IdempotencyCheck.Claim? {
        let lock = locking ? " FOR UPDATE" : ""
        let rows = try await connection.query(
            "SELECT fingerprint, expires_at FROM idempotency_claims WHERE tenant = \(tenant) AND key = \(key)\(unescaped: lock)",
            logger: logger
        )
        for try await (print, expiresAt) in rows.decode((ByteBuffer, Double).self) {
            return IdempotencyCheck.Claim(fingerprint: IdempotencyFingerprint(bytes: print.readableBytesView), expiresAt: expiresAt)
        }
        return nil
    }
}
