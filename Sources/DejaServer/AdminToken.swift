import Crypto

/// The admin token, compared in constant time.
///
/// Both sides are hashed with SHA-256 first and the digests compared without an early exit, so how
/// long a wrong guess takes says nothing about the token, not even its length.
struct AdminToken: Sendable {
    private let digest: SHA256.Digest

    init(_ token: String) {
        digest = SHA256.hash(data: Array(token.utf8))
    }

    /// Whether `candidate` is the admin token.
    func matches(_ candidate: String) -> Bool {
        // swift-crypto compares digests in constant time.
        SHA256.hash(data: Array(candidate.utf8)) == digest
    }
}
