import Crypto
import DejaGateway
import Hummingbird

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

extension AdminToken {
    /// Throws unless `request` carries `token` as its bearer token: 403 when admin endpoints are off
    /// (no token configured), 401 otherwise.
    static func authorize(_ request: Request, token: AdminToken?) throws {
        guard let token else {
            throw GatewayError(.forbidden, "admin endpoints are off: set adminToken (DEJA_ADMIN_TOKEN) to use them")
        }
        guard let presented = bearerToken(request.headers[.authorization]), token.matches(presented) else {
            throw GatewayError(.unauthorized, "admin endpoints need 'Authorization: Bearer <admin token>'")
        }
    }

    private static func bearerToken(_ header: String?) -> String? {
        TaskController<BasicRequestContext>.bearerToken(header)
    }
}
