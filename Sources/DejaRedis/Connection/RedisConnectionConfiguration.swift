import NIOCore
import NIOSSL

/// How one connection talks to a server: credentials, database, protocol, TLS and timeouts.
public struct RedisConnectionConfiguration: Sendable {
    /// Credentials for `AUTH` / `HELLO … AUTH`.
    public struct Authentication: Sendable, Hashable {
        /// ACL user; `nil` for the default user (password-only `AUTH`).
        public var username: String?
        public var password: String
        public init(username: String? = nil, password: String) {
            self.username = username
            self.password = password
        }
    }

    /// Credentials, or `nil` for none.
    public var authentication: Authentication?
    /// Database selected after connecting (standalone only; clusters have only 0).
    public var database: Int
    /// RESP version to speak: 3 (`HELLO 3`, needed for pub/sub) or 2.
    public var protocolVersion: Int
    /// TLS settings, or `nil` for plain TCP.
    public var tls: TLSConfiguration?
    /// Host name sent for TLS SNI and certificate checks; defaults to the host connected to.
    public var tlsServerName: String?
    /// Time allowed to open the TCP connection (and TLS).
    public var connectTimeout: TimeAmount
    /// Time allowed for each command's reply; `nil` waits forever.
    public var commandTimeout: TimeAmount?
    /// Decoder limits.
    public var limits: RESPLimits
    /// Sent with `HELLO … SETNAME` so operators see who is connected.
    public var clientName: String?

    public init(
        authentication: Authentication? = nil,
        database: Int = 0,
        protocolVersion: Int = 3,
        tls: TLSConfiguration? = nil,
        tlsServerName: String? = nil,
        connectTimeout: TimeAmount = .seconds(5),
        commandTimeout: TimeAmount? = .seconds(5),
        limits: RESPLimits = .default,
        clientName: String? = "deja"
    ) {
        self.authentication = authentication
        self.database = database
        self.protocolVersion = protocolVersion
        self.tls = tls
        self.tlsServerName = tlsServerName
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.limits = limits
        self.clientName = clientName
    }
}
