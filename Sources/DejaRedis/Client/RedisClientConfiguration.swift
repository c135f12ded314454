import Foundation
import NIOCore
import NIOSSL

/// Where a ``RedisClient`` connects and how many connections it keeps.
public struct RedisClientConfiguration: Sendable {
    /// The server.
    public var address: RedisAddress
    /// How each connection is set up.
    public var connection: RedisConnectionConfiguration
    /// How many connections commands are spread over (each one pipelines many commands).
    public var poolSize: Int
    /// Waits between failed connection attempts; commands fail fast (`unavailable`) while waiting.
    public var reconnectBackoff: Backoff

    public init(
        address: RedisAddress,
        connection: RedisConnectionConfiguration = .init(),
        poolSize: Int = 4,
        reconnectBackoff: Backoff = .init(base: .milliseconds(100), maximum: .seconds(5))
    ) {
        self.address = address
        self.connection = connection
        self.poolSize = max(1, poolSize)
        self.reconnectBackoff = reconnectBackoff
    }

    /// Reads `redis://[user:password@]host[:port][/db]` or `rediss://…[?ca=/path/ca.pem]` (TLS, certificates
    /// verified against the system's roots, or only the PEM CA named by `ca`).
    ///
    /// The port defaults to 6379; a user without a password is taken as a password (`redis://:pw@host` is
    /// the usual spelling). Throws ``RedisError`` with code `invalidConfiguration`; the message never
    /// repeats the URL, which may hold a password.
    public init(url: String) throws(RedisError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "redis" || scheme == "rediss"
        else { throw RedisError(code: .invalidConfiguration, message: "a Redis URL starts with redis:// or rediss://") }
        guard let host = components.host, !host.isEmpty else {
            throw RedisError(code: .invalidConfiguration, message: "the Redis URL has no host")
        }
        let port = components.port ?? 6379
        guard port > 0, port < 65536 else { throw RedisError(code: .invalidConfiguration, message: "bad port in Redis URL") }
        var connection = RedisConnectionConfiguration()
        let user = components.user.flatMap { $0.removingPercentEncoding ?? $0 }.flatMap { $0.isEmpty ? nil : $0 }
        let password = components.password.flatMap { $0.removingPercentEncoding ?? $0 }
        if let password {
            connection.authentication = .init(username: user, password: password)
        } else if let user {
            connection.authentication = .init(username: nil, password: user)
        }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let database = Int(path), database >= 0 else {
                throw RedisError(code: .invalidConfiguration, message: "the Redis URL path must be a database number")
            }
            connection.database = database
        }
        if scheme == "rediss" {
            var tls = TLSConfiguration.makeClientConfiguration()
            // `?ca=/path/ca.pem`: trust this CA (PEM) instead of the system's, e.g. a private CA.
            if let ca = components.queryItems?.first(where: { $0.name == "ca" })?.value, !ca.isEmpty {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                } catch {
                    throw RedisError(code: .invalidConfiguration, message: "the CA file named by ?ca= in the Redis URL cannot be read as PEM: \(error)")
                }
            }
            connection.tls = tls
        } else if components.queryItems?.contains(where: { $0.name == "ca" }) == true {
            throw RedisError(code: .invalidConfiguration, message: "?ca= applies to rediss:// URLs only")
        }
        let cleanHost = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.init(address: RedisAddress(host: cleanHost, port: port), connection: connection)
    }
}
