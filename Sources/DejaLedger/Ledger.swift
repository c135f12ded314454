/// Where Deja keeps API keys, the usage it bills, budgets and the answers to idempotent requests.
///
/// Implementations are shared by every request in flight; every method may be called concurrently, also
/// from several processes sharing one database. Methods throw ``LedgerError``.
public protocol Ledger: Sendable {
    // MARK: Keys

    /// Creates a key for `tenant`; returns its info and the secret, which is shown once and stored only as a SHA-256 hash.
    func createKey(tenant: String, name: String) async throws -> (info: APIKeyInfo, secret: String)
    /// All keys, or only `tenant`'s when given, oldest first.
    func listKeys(tenant: String?) async throws -> [APIKeyInfo]
    /// Revokes by key id; returns false when no such key.
    func revokeKey(id: String) async throws -> Bool
    /// The key's info for a presented secret, or nil when unknown or revoked.
    func authenticate(secret: String) async throws -> APIKeyInfo?

    // MARK: Usage

    /// Appends records in one transaction; when it returns they are durable (committed). Settles nothing.
    func record(_ records: [UsageRecord]) async throws
    /// Appends `records` and removes `reservations` in one transaction; when it returns both are durable.
    ///
    /// The records' billed tokens are what the budget counts from then on, so a reservation is adjusted to
    /// the actual meter by settling it. Settling a reservation that was released, expired or never held is a no-op.
    func record(_ records: [UsageRecord], settling reservations: [Reservation]) async throws
    /// Adds `tally`'s counts to the hourly counts in one transaction; when it returns they are durable.
    ///
    /// Adding is commutative: instances sharing the ledger add their tallies of the same hour together.
    func count(_ tally: UsageTally) async throws
    /// A report over the query's records and hourly counts, one row per group of `query.groupBy`, ordered
    /// by day, tenant, task, key.
    ///
    /// Billed is what was billed; saved is metered − billed over answers served from cache (hit, coalesced,
    /// stale). An hour's counts are in the query's range when the hour starts in it, so a range that starts
    /// or ends inside an hour counts that hour's unbilled requests whole or not at all.
    func usage(_ query: UsageQuery) async throws -> [UsageRow]
    /// The query's records (its `groupBy` is ignored), ordered by time; for invoice export. Requests counted
    /// per hour instead are in ``counts(_:)``.
    func records(_ query: UsageQuery) async throws -> [UsageRecord]
    /// The query's hourly counts (its `groupBy` is ignored), ordered by hour; with ``records(_:)``, every
    /// request of the range.
    func counts(_ query: UsageQuery) async throws -> [UsageCount]
    /// The content keys asked for most often among the query's answered requests (records and hourly key
    /// counts), most first; what `deja warm --from-ledger` warms and a dashboard lists.
    func repeatedKeys(_ query: RepeatedKeysQuery) async throws -> [RepeatedKey]

    /// Deletes one small step of usage past its retention, oldest first: records (billed answers, and every
    /// request of a task with `usage.records: all`) answered before `recordsBefore` with the hourly counts
    /// of records of hours that ended by then, and hourly counts of hours that started before
    /// `countsBefore`; `nil` keeps them. A step deletes at most `limit` records
    /// and `limit` rows of each count table, in short transactions of their own.
    ///
    /// Returns the rows deleted; call again, pausing between calls so other writes go first, until it
    /// returns 0. Records are taken in the order they were written, so one answered long after a younger one
    /// may outlive its retention by that much. PostgreSQL deletes records by month: all of a month's when the
    /// month is wholly before `recordsBefore`'s month (``UsagePartitions/cutoff(recordsBefore:)``).
    func purgeUsage(recordsBefore: Double?, countsBefore: Double?, limit: Int) async throws -> Int
    /// Makes room for the records of the month holding `time` and the next one (PostgreSQL adds their
    /// monthly partitions; SQLite has nothing to do). The janitor calls it on every sweep.
    func preparePartitions(at time: Double) async throws

    // MARK: Quotas

    /// Creates or replaces the budget of `quota.tenant`/`quota.keyID` for `quota.period`.
    ///
    /// A key or tenant may have one budget per period (e.g. a daily cap and a prepaid balance); all apply.
    /// A new prepaid balance counts tokens billed from now on. Throws `invalidArgument` for an empty tenant or a negative limit.
    func setQuota(_ quota: Quota) async throws
    /// Removes a budget; returns false when there was none.
    func removeQuota(tenant: String, keyID: String?, period: QuotaPeriod) async throws -> Bool
    /// The tenant's budgets: the tenant's own first, then per key, each by period.
    func quotas(tenant: String) async throws -> [Quota]
    /// Holds `tokens` against every budget that applies to the key (its own and its tenant's), atomically.
    ///
    /// Admits when, for each, billed in the current period + outstanding unexpired reservations + `tokens` ≤ limit;
    /// otherwise throws ``LedgerError`` with code `quotaExceeded` and ``LedgerError/quotaExceeded`` set (nothing held).
    /// `time` is now (seconds since 1970): it picks the period and starts the reservation's expiry.
    /// With no budget for the key or tenant, returns a reservation that holds nothing.
    func reserve(tenant: String, keyID: String, tokens: Int64, at time: Double) async throws -> Reservation
    /// Gives a reservation's tokens back (the request failed); a no-op when already settled, released or expired.
    func release(_ reservation: Reservation) async throws
    /// Raises the prepaid balance of the tenant (`keyID` nil) or key by `tokens`, creating it when missing.
    /// Throws `invalidArgument` unless `tokens` > 0.
    func topUp(tenant: String, keyID: String?, tokens: Int64) async throws

    // MARK: Idempotency

    /// Claims `key` for the request with `fingerprint`, atomically: at most one caller holds a key at a time,
    /// across every instance sharing the database.
    ///
    /// - `.claimed(lease)`: answer the request, then store its billed answer with
    ///   ``storeIdempotentResponse(_:tenant:key:fingerprint:records:settling:)``, or give the key back with
    ///   ``releaseIdempotency(_:)`` when the request ends without a billed answer. The lease lasts
    ///   `leaseSeconds` from `time`; choose it longer than a request can take, or a waiter takes the key over
    ///   and answers the request a second time (billed once: the later answer fails with `idempotencyConflict`).
    /// - `.inProgress(until:)`: the same request is being answered elsewhere; do not answer it. Claim again
    ///   after a short wait until the result is another case; past `until` the next claim takes the key over.
    /// - `.completed(response)`: replay the stored answer, billing nothing.
    /// - `.mismatch`: the key belongs to a different request (or to an answer stored before fingerprints): 422.
    ///
    /// `time` is now (seconds since 1970). A claim that finds the key decided reads only and writes nothing,
    /// so waiting callers may poll. Throws `invalidArgument` for an empty tenant or key or a non-positive lease.
    func claimIdempotency(
        tenant: String, key: String, fingerprint: IdempotencyFingerprint, at time: Double, leaseSeconds: Double
    ) async throws -> IdempotencyClaim
    /// Gives a claimed key back (the request failed, or was refused, without a billed answer), so that a retry
    /// can run. Only billed answers are stored and replayed: a failure is never replayed.
    ///
    /// A no-op when the lease no longer holds the key (completed, released, or expired and taken over).
    func releaseIdempotency(_ lease: IdempotencyLease) async throws
    /// Stores `response` under (`tenant`, `key`) for the request with `fingerprint`, together with its billed
    /// `records` and settling `settling`, in one transaction; ends any claim on the key.
    ///
    /// Succeeds when the key is free or claimed for the same fingerprint (normally by the caller's lease; also
    /// by a claim that took over the caller's expired lease, whose own answer then conflicts). Otherwise nothing
    /// is written, the reservations are released, and this throws ``LedgerError`` with code
    /// `idempotencyConflict` (an answer to the same request is stored: replay the one that
    /// ``claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)`` returns) or `idempotencyMismatch`
    /// (the key belongs to another request: 422).
    func storeIdempotentResponse(
        _ response: IdempotentResponse,
        tenant: String,
        key: String,
        fingerprint: IdempotencyFingerprint,
        records: [UsageRecord],
        settling: [Reservation]
    ) async throws
    /// The answer stored under `key` by `tenant` and the fingerprint of the request it answers (`nil` for
    /// answers stored before fingerprints); nil when none, or older than the retention time.
    ///
    /// For inspection: never replay it without comparing fingerprints; to answer a request use
    /// ``claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)``. Claims in progress are not returned.
    func idempotentResponse(
        tenant: String, key: String
    ) async throws -> (response: IdempotentResponse, fingerprint: IdempotencyFingerprint?)?
    /// Deletes stored answers older than the retention time, claims past their lease (counted together as
    /// `idempotentResponses`) and reservations past their expiry.
    func purgeExpired() async throws -> (idempotentResponses: Int, reservations: Int)

    // MARK: Gray release

    /// Appends one shadow comparison of a gray release; durable when it returns.
    func recordComparison(_ comparison: GrayComparison) async throws
    /// Per task and pair of versions, ordered by task and versions: comparisons and agreements over the
    /// query's comparisons, with up to `query.examples` of the most recent disagreements, newest first.
    func grayReport(_ query: GrayQuery) async throws -> [GrayReportRow]

    // MARK: Lifetime

    /// Releases the ledger's resources; call once, after every other call has returned.
    func close() async throws
}
