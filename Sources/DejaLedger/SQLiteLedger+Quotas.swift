import SQLiteNIO

extension SQLiteLedger {
    /// Creates or replaces a budget; a prepaid balance created now counts tokens billed from now on.
    public func setQuota(_ quota: Quota) async throws(LedgerError) {
        try QuotaCheck.validate(quota)
        let now = clock.now()
        _ = try await write("could not set a quota") {
            try await writer.query(
                """
                INSERT INTO quotas (tenant, key_id, period, quota_limit, since) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant, key_id, period) DO UPDATE SET quota_limit = excluded.quota_limit
                """,
                [.text(quota.tenant), .text(quota.keyID ?? ""), .text(quota.period.rawValue), .integer(Int(quota.limit)), .float(now)]
            )
        }
        budgetsChanged()
    }

    /// Removes a budget; returns false when there was none.
    public func removeQuota(tenant: String, keyID: String?, period: QuotaPeriod) async throws(LedgerError) -> Bool {
        let rows = try await write("could not remove a quota") {
            try await writer.query(
                "DELETE FROM quotas WHERE tenant = ? AND key_id = ? AND period = ? RETURNING tenant",
                [.text(tenant), .text(keyID ?? ""), .text(period.rawValue)]
            )
        }
        budgetsChanged()
        return !rows.isEmpty
    }

    /// The tenant's budgets: the tenant's own first, then per key, each by period.
    public func quotas(tenant: String) async throws(LedgerError) -> [Quota] {
        let rows = try await read("could not list quotas") {
            try await reader.query(
                "SELECT tenant, key_id, period, quota_limit, since FROM quotas WHERE tenant = ? ORDER BY key_id, period",
                [.text(tenant)]
            )
        }
        return rows.compactMap(Self.storedQuota).map(\.quota)
    }

    /// Holds `tokens` against every budget of the key and its tenant, or throws `quotaExceeded`.
    ///
    /// A key whose tenant has no budget costs one read and no write. Otherwise the check and the hold run
    /// in one write transaction behind the ledger's single writer, so concurrent reservations never both
    /// take the last tokens.
    public func reserve(tenant: String, keyID: String, tokens: Int64, at time: Double) async throws(LedgerError) -> Reservation {
        try QuotaCheck.validateReservation(tenant: tenant, tokens: tokens)
        let reservation = Reservation(id: QuotaCheck.newReservationID(), tenant: tenant, keyID: keyID, tokens: tokens, time: time)
        // Read before the budgets, so a change committed after that read raises a signal this one is not.
        let signal = quotaSignal.current()
        let now = clock.now()
        if let signal, quotaMemo.withLock({ $0.noBudget(tenant: tenant, keyID: keyID, signal: signal, at: now) }) {
            return reservation.unheld
        }
        let budgets = try await read("could not read quotas") {
            try await reader.query(Self.applicableQuotas, [.text(tenant), .text(keyID)])
        }
        guard !budgets.isEmpty else {
            if let signal {
                quotaMemo.withLock { $0.remember(tenant: tenant, keyID: keyID, signal: signal, until: now + Self.quotaMemoSeconds) }
            }
            return reservation.unheld
        }
        try await write("could not reserve tokens") {
            try await transaction {
                let quotas = try await writer.query(Self.applicableQuotas, [.text(tenant), .text(keyID)])
                for stored in quotas.compactMap(Self.storedQuota) {
                    let (used, reserved) = try await load(stored, keyID: keyID, at: time)
                    if let exceeded = QuotaCheck.verdict(stored, used: used, reserved: reserved, requested: tokens, at: time) {
                        throw LedgerError.exceeded(exceeded)
                    }
                }
                _ = try await writer.query(
                    "INSERT INTO reservations (id, tenant, key_id, tokens, time, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        .text(reservation.id), .text(tenant), .text(keyID), .integer(Int(tokens)), .float(time),
                        .float(time + options.reservationLifetime),
                    ]
                )
            }
        }
        return reservation
    }

    /// Gives a reservation's tokens back; a no-op when it is already settled, released or expired.
    public func release(_ reservation: Reservation) async throws(LedgerError) {
        guard reservation.holds else { return }
        try await write("could not release a reservation") {
            try await deleteReservations([reservation.id])
        }
    }

    /// Raises a prepaid balance by `tokens`, creating it (counting from now) when missing.
    public func topUp(tenant: String, keyID: String?, tokens: Int64) async throws(LedgerError) {
        try QuotaCheck.validate(Quota(tenant: tenant, keyID: keyID, period: .prepaid, limit: 0))
        guard tokens > 0 else { throw .invalid("top-up tokens must be positive") }
        let now = clock.now()
        _ = try await write("could not top up a balance") {
            try await writer.query(
                """
                INSERT INTO quotas (tenant, key_id, period, quota_limit, since) VALUES (?, ?, 'prepaid', ?, ?)
                ON CONFLICT (tenant, key_id, period) DO UPDATE SET quota_limit = quotas.quota_limit + excluded.quota_limit
                """,
                [.text(tenant), .text(keyID ?? ""), .integer(Int(tokens)), .float(now)]
            )
        }
        budgetsChanged()
    }

    /// Billed tokens in the budget's window and tokens held by unexpired reservations, read in one statement.
    /// Call inside the write transaction.
    private func load(_ stored: StoredQuota, keyID: String, at time: Double) async throws -> (used: Int64, reserved: Int64) {
        let (start, end) = stored.window(at: time)
        let byKey = stored.quota.keyID != nil
        var usedBinds: [ReportSQL.Value] = []
        let used = ReportSQL.billed(tenant: stored.quota.tenant, keyID: byKey ? keyID : nil, from: start, to: end, .sqlite, binds: &usedBinds)
        var heldBinds: [SQLiteData] = [.text(stored.quota.tenant)]
        if byKey { heldBinds.append(.text(keyID)) }
        heldBinds.append(.float(time))
        let keyFilter = byKey ? " AND key_id = ?" : ""
        let rows = try await writer.query(
            """
            SELECT
                \(used) AS used,
                (SELECT coalesce(sum(tokens), 0) FROM reservations
                    WHERE tenant = ?\(keyFilter) AND expires_at > ?) AS reserved
            """,
            usedBinds.map(Self.sqliteData) + heldBinds
        )
        let row = rows.first
        return (Int64(row?.column("used")?.integer ?? 0), Int64(row?.column("reserved")?.integer ?? 0))
    }

    private static let applicableQuotas = """
        SELECT tenant, key_id, period, quota_limit, since FROM quotas
        WHERE tenant = ?1 AND key_id IN (?2, '') ORDER BY key_id, period
        """

    private static func storedQuota(_ row: SQLiteRow) -> StoredQuota? {
        guard let period = QuotaPeriod(rawValue: row.column("period")?.string ?? "") else { return nil }
        let key = row.column("key_id")?.string ?? ""
        return StoredQuota(
            quota: Quota(
                tenant: row.column("tenant")?.string ?? "",
                keyID: key.isEmpty ? nil : key,
                period: period,
                limit: Int64(row.column("quota_limit")?.integer ?? 0)
            ),
            since: row.column("since")?.double ?? 0
        )
    }
}

extension SQLiteLedger {
    /// Seconds a ledger remembers that no budget applies to a key, however the signal stands.
    static let quotaMemoSeconds = 1.0

    /// After a committed change to the budgets: this process forgets at once, the others at their
    /// next reservation (``QuotaSignal``).
    func budgetsChanged() {
        quotaMemo.withLock { $0.forget() }
        quotaSignal.raise()
    }
}

/// The keys no budget applied to when last read, each with the ``QuotaSignal`` of that read and an
/// expiry: a reservation for one of them, under the same signal and before its expiry, holds nothing
/// without asking the ledger.
struct QuotaMemo {
    private struct Key: Hashable {
        var tenant: String
        var keyID: String
    }

    private struct Remembered {
        var signal: UInt64
        var until: Double
    }

    /// Keys remembered at most; past it the memo starts over.
    static let limit = 10_000

    private var entries: [Key: Remembered] = [:]

    func noBudget(tenant: String, keyID: String, signal: UInt64, at time: Double) -> Bool {
        guard let remembered = entries[Key(tenant: tenant, keyID: keyID)] else { return false }
        return remembered.signal == signal && time < remembered.until
    }

    mutating func remember(tenant: String, keyID: String, signal: UInt64, until: Double) {
        if entries.count >= Self.limit { entries.removeAll(keepingCapacity: true) }
        entries[Key(tenant: tenant, keyID: keyID)] = Remembered(signal: signal, until: until)
    }

    mutating func forget() {
        entries.removeAll()
    }
}
