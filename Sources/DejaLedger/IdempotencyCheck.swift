/// The `Idempotency-Key` rule shared by both backends; the SQL that feeds it runs in the backend's transaction.
///
/// A key has at most one stored answer (table `idempotency`) and at most one claim (`idempotency_claims`).
/// An answer younger than the retention time decides alone; otherwise an unexpired claim does; otherwise
/// the key is free.
enum IdempotencyCheck {
    /// A stored answer as read from the database.
    struct Answer {
        var response: IdempotentResponse
        /// `nil` for answers stored before requests were fingerprinted (or unreadable): they match no request.
        var fingerprint: IdempotencyFingerprint?
    }

    /// A claim as read from the database.
    struct Claim {
        /// `nil` when unreadable: it matches no request.
        var fingerprint: IdempotencyFingerprint?
        var expiresAt: Double
    }

    /// What the key's rows say to a request with `fingerprint` at `now`.
    enum Verdict: Equatable {
        /// Nobody holds the key: take it (claim) or store under it (complete).
        case free
        /// The same request was answered: replay this.
        case answered(IdempotentResponse)
        /// The same request is being answered by a live claim, until then.
        case inProgress(until: Double)
        /// The key belongs to another request.
        case mismatch
    }

    static func verdict(
        answer: Answer?, claim: Claim?, fingerprint: IdempotencyFingerprint, now: Double, retention: Double
    ) -> Verdict {
        if let answer, answer.response.createdAt >= now - retention {
            return answer.fingerprint == fingerprint ? .answered(answer.response) : .mismatch
        }
        if let claim, claim.expiresAt > now {
            return claim.fingerprint == fingerprint ? .inProgress(until: claim.expiresAt) : .mismatch
        }
        return .free
    }

    /// The claim result for a verdict other than `.free`.
    static func claim(_ verdict: Verdict) -> IdempotencyClaim? {
        switch verdict {
        case .free: nil
        case .answered(let response): .completed(response)
        case .inProgress(let until): .inProgress(until: until)
        case .mismatch: .mismatch
        }
    }

    /// Why an answer cannot be stored under the key, or `nil` when it can: the key is free, or held by a
    /// live claim for the same request (the caller's own, or one that took over the caller's expired lease).
    static func completionError(_ verdict: Verdict) -> LedgerError? {
        switch verdict {
        case .free, .inProgress: nil
        case .answered: .duplicateIdempotencyKey
        case .mismatch: .idempotencyKeyMismatch
        }
    }

    static func validateClaim(tenant: String, key: String, at time: Double, leaseSeconds: Double) throws(LedgerError) {
        guard !tenant.isEmpty else { throw .invalid("tenant must not be empty") }
        guard !key.isEmpty else { throw .invalid("the Idempotency-Key must not be empty") }
        guard time.isFinite else { throw .invalid("the claim time must be a finite number of seconds") }
        guard leaseSeconds.isFinite, leaseSeconds > 0 else { throw .invalid("leaseSeconds must be positive") }
    }

    /// A new lease id: `idl_` followed by 24 hex digits.
    static func newLeaseID() -> String {
        "idl_" + RandomID.hex(24)
    }
}
