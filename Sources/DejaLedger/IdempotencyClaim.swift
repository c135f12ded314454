/// What ``Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)`` found under an `Idempotency-Key`.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key was free (never used, its stored answer past retention, or its last lease expired): this caller
    /// now holds it and must answer the request, then store the billed answer or release the lease.
    case claimed(IdempotencyLease)
    /// Another request with the same fingerprint holds the key until `until` (seconds since 1970): do not
    /// answer it again; wait a little and claim again. Past `until` (its holder died) the next claim takes
    /// the key over, so a waiter never waits longer than the lease.
    case inProgress(until: Double)
    /// The answer stored for the same request: replay it, billing nothing.
    case completed(IdempotentResponse)
    /// The key is bound to a different request (answered, or in progress), or to an answer stored before
    /// requests were fingerprinted: refuse the request (HTTP 422) and run nothing.
    case mismatch
}
