import Foundation
import PostgresNIO

extension PostgresLedger {
    /// Where a ``PostgresLedger`` connects and how.
    public struct Configuration: Sendable {
        /// Server host name or IP address.
        public var host: String
        /// Server port.
        public var port: Int
        /// User name.
        public var username: String
        /// Password, if the server asks for one.
        public var password: String?
        /// Database name.
        public var database: String
        /// The schema the ledger's tables live in (created when missing); `nil` for the server's default
        /// search path (normally `public`). Letters, digits and `_` only.
        public var schema: String?
        /// Whether to use TLS. Default: no TLS (`sslmode=disable`).
        public var tls: PostgresClient.Configuration.TLS
        /// Most connections this instance opens. Default 20.
        public var maximumConnections: Int
        /// How long ``PostgresLedger/open(configuration:clock:logger:)`` waits for the server and migrations. Default 30 s.
        public var connectTimeout: Duration
        /// Reservation lifetime and idempotent-response retention.
        public var options: LedgerOptions

        /// Creates a configuration.
        public init(
            host: String,
            port: Int = 5432,
            username: String,
            password: String?,
            database: String,
            schema: String? = nil,
            tls: PostgresClient.Configuration.TLS = .disable,
            maximumConnections: Int = 20,
            connectTimeout: Duration = .seconds(30),
            options: LedgerOptions = LedgerOptions()
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.schema = schema
            self.tls = tls
            self.maximumConnections = maximumConnections
            self.connectTimeout = connectTimeout
            self.options = options
        }

        /// Parses `postgres://user:password@host:port/database`; the query may set `schema=<name>` and
        /// `sslmode=disable|prefer|require` (default `disable`). User and password are percent-decoded.
        ///
        /// Throws ``LedgerError`` with code `invalidArgument` naming what is wrong (never the password).
        public init(url: String) throws(LedgerError) {
            guard let components = URLComponents(string: url),
                components.scheme == "postgres" || components.scheme == "postgresql"
            else {
                throw .invalid("the PostgreSQL URL must look like postgres://user:password@host:port/database")
            }
            guard let host = components.host, !host.isEmpty else { throw .invalid("the PostgreSQL URL has no host") }
            guard let user = components.user, !user.isEmpty else { throw .invalid("the PostgreSQL URL has no user name") }
            let database = String(components.path.drop { $0 == "/" })
            guard !database.isEmpty else { throw .invalid("the PostgreSQL URL has no database name (the path)") }
            self.init(
                host: host,
                port: components.port ?? 5432,
                username: user.removingPercentEncoding ?? user,
                password: components.password.map { $0.removingPercentEncoding ?? $0 },
                database: database.removingPercentEncoding ?? database
            )
            for item in components.queryItems ?? [] {
                switch (item.name, item.value ?? "") {
                case ("schema", let value): schema = value
                case ("sslmode", "disable"): tls = .disable
                case ("sslmode", "prefer"): tls = .prefer(.makeClientConfiguration())
                case ("sslmode", "require"): tls = .require(.makeClientConfiguration())
                case ("sslmode", _): throw .invalid("sslmode must be disable, prefer or require")
                default: break
                }
            }
            if let schema, !Self.isValidSchema(schema) {
                throw .invalid("schema must be letters, digits and underscores, not starting with a digit")
            }
        }

        static func isValidSchema(_ name: String) -> Bool {
            guard let first = name.unicodeScalars.first, !("0"..."9").contains(first), name.count <= 63 else { return false }
            return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        }

        var client: PostgresClient.Configuration {
            var configuration = PostgresClient.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: tls
            )
            configuration.options.maximumConnections = maximumConnections
            if let schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
            return configuration
        }
    }
}
