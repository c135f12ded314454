import PostgresNIO

extension PostgresLedger {
    /// Creates or replaces a budget; a prepaid balance created now counts tokens billed from now on.
    public func setQuota(_ quota: Quota) async throws(LedgerError) {
        try QuotaCheck.validate(quota)
        let now = clock.now()
        try await read("could not set a quota") {
            try await client.query(
                """
                INSERT INTO quotas (tenant, key_id, period, quota_limit, since)
                VALUES (\(quota.tenant), \(quota.keyID ?? ""), \(quota.period.rawValue), \(quota.limit), \(now))
                ON CONFLICT (tenant, key_id, period) DO UPDATE SET quota_limit = excluded.quota_limit
                """,
                logger: logger
            )
        }
    }

    /// Removes a budget; returns false when there was none.
    public func removeQuota(tenant: String, keyID: String?, period: QuotaPeriod) async throws(LedgerError) -> Bool {
        try await read("could not remove a quota") {
            try await client.query(
                """
                DELETE FROM quotas WHERE tenant = \(tenant) AND key_id = \(keyID ?? "") AND period = \(period.rawValue)
                RETURNING tenant
                """,
                logger: logger
            ).collect().count > 0
        }
    }

    /// The tenant's budgets: the tenant's own first, then per key, each by period.
    public func quotas(tenant: String) async throws(LedgerError) -> [Quota] {
        try await read("could not list quotas") {
            try await Self.storedQuotas(client.query(
                "SELECT tenant, key_id, period, quota_limit, since FROM quotas WHERE tenant = \(tenant) ORDER BY key_id, period",
                logger: logger
            )).map(\.quota)
        }
    }

    /// Holds `tokens` against every budget of the key and its tenant, or throws `quotaExceeded`.
    ///
    /// A key whose tenant has no budget costs one query. Otherwise one transaction locks the applicable
    /// quota rows (`FOR UPDATE`, tenant row first), reads billed and reserved tokens in one statement, and
    /// inserts the reservation; reservations for the same budgets from every instance queue on the row lock.
    public func reserve(tenant: String, keyID: String, tokens: Int64, at time: Double) async throws(LedgerError) -> Reservation {
        try QuotaCheck.validateReservation(tenant: tenant, tokens: tokens)
        let reservation = Reservation(id: QuotaCheck.newReservationID(), tenant: tenant, keyID: keyID, tokens: tokens, time: time)
        let hasBudget = try await read("could not read quotas") {
            try await client.query(
                "SELECT 1 FROM quotas WHERE tenant = \(tenant) AND key_id IN (\(keyID), '') LIMIT 1", logger: logger
            ).collect().count > 0
        }
        guard hasBudget else { return reservation.unheld }
        let lifetime = options.reservationLifetime
        try await transaction("could not reserve tokens") { connection in
            let quotas = try await Self.storedQuotas(connection.query(
                """
                SELECT tenant, key_id, period, quota_limit, since FROM quotas
                WHERE tenant = \(tenant) AND key_id IN (\(keyID), '') ORDER BY key_id, period FOR UPDATE
                """,
                logger: logger
            ))
            for stored in quotas {
                let (used, reserved) = try await load(stored, keyID: keyID, at: time, on: connection)
                if let exceeded = QuotaCheck.verdict(stored, used: used, reserved: reserved, requested: tokens, at: time) {
                    throw LedgerError.exceeded(exceeded)
                }
            }
            try await connection.query(
                """
                INSERT INTO reservations (id, tenant, key_id, tokens, time, expires_at)
                VALUES (\(reservation.id), \(tenant), \(keyID), \(tokens), \(time), \(time + lifetime))
                """,
                logger: logger
            )
        }
        return reservation
    }

    /// Gives a reservation's tokens back; a no-op when it is already settled, released or expired.
    public func release(_ reservation: Reservation) async throws(LedgerError) {
        guard reservation.holds else { return }
        try await read("could not release a reservation") {
            try await client.query("DELETE FROM reservations WHERE id = \(reservation.id)", logger: logger)
        }
    }

    /// Raises a prepaid balance by `tokens`, creating it (counting from now) when missing.
    public func topUp(tenant: String, keyID: String?, tokens: Int64) async throws(LedgerError) {
        try QuotaCheck.validate(Quota(tenant: tenant, keyID: keyID, period: .prepaid, limit: 0))
        guard tokens > 0 else { throw .invalid("top-up tokens must be positive") }
        let now = clock.now()
        try await read("could not top up a balance") {
            try await client.query(
                """
                INSERT INTO quotas (tenant, key_id, period, quota_limit, since)
                VALUES (\(tenant), \(keyID ?? ""), 'prepaid', \(tokens), \(now))
                ON CONFLICT (tenant, key_id, period) DO UPDATE SET quota_limit = quotas.quota_limit + excluded.quota_limit
                """,
                logger: logger
            )
        }
    }

    /// Billed tokens in the budget's window and tokens held by unexpired reservations, read in one
    /// statement (one snapshot, so a concurrent settle is seen either wholly or not at all).
    private func load(
        _ stored: StoredQuota,
        keyID: String,
        at time: Double,
        on connection: PostgresConnection
    ) async throws -> (used: Int64, reserved: Int64) {
        let (start, end) = stored.window(at: time)
        let byKey = stored.quota.keyID != nil
        var values: [ReportSQL.Value] = [.text(stored.quota.tenant), .text(keyID), .double(time)]
        let used = ReportSQL.billed(tenant: stored.quota.tenant, keyID: byKey ? keyID : nil, from: start, to: end, .postgres, binds: &values)
        let keyFilter = byKey ? " AND key_id = $2" : ""
        let sql = """
            SELECT
                CAST(\(used) AS BIGINT) AS used,
                (SELECT coalesce(sum(tokens), 0)::bigint FROM reservations
                    WHERE tenant = $1\(keyFilter) AND expires_at > $3) AS reserved,
                $2::text AS key
            """
        let binds = Self.bindings(values)
        for try await (used, reserved, _) in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            .decode((Int64, Int64, String).self)
        {
            return (used, reserved)
        }
        return (0, 0)
    }

    private static func storedQuotas(_ rows: PostgresRowSequence) async throws -> [StoredQuota] {
        var result: [StoredQuota] = []
        for try await (tenant, key, period, limit, since) in rows.decode((String, String, String, Int64, Double).self) {
            guard let period = QuotaPeriod(rawValue: period) else { continue }
            result.append(StoredQuota(
                quota: Quota(tenant: tenant, keyID: key.isEmpty ? nil : key, period: period, limit: limit),
                since: since
            ))
        }
        return result
    }
}
