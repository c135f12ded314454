/// The right to answer the request an `Idempotency-Key` names, held by the one caller that claimed it.
///
/// Made by ``Ledger/claimIdempotency(tenant:key:fingerprint:at:leaseSeconds:)``. The holder answers the
/// request and then either stores its billed answer (``Ledger/storeIdempotentResponse(_:tenant:key:fingerprint:records:settling:)``)
/// or gives the key back (``Ledger/releaseIdempotency(_:)``). A lease nobody completes or releases (its
/// holder died) stops holding the key at ``expiresAt``; the next claim then takes the key over.
public struct IdempotencyLease: Sendable, Hashable {
    /// The tenant whose key this is.
    public var tenant: String
    /// The client's `Idempotency-Key`.
    public var key: String
    /// The request the key is held for.
    public var fingerprint: IdempotencyFingerprint
    /// This claim's unique id (`idl_` and 24 hex digits): a release gives the key back only while this claim holds it.
    public var id: String
    /// When the lease ends unless completed or released first, seconds since 1970.
    public var expiresAt: Double

    /// Creates a lease description; only a ledger's `claimIdempotency` makes one that holds a key.
    public init(tenant: String, key: String, fingerprint: IdempotencyFingerprint, id: String, expiresAt: Double) {
        self.tenant = tenant
        self.key = key
        self.fingerprint = fingerprint
        self.id = id
        self.expiresAt = expiresAt
    }
}
