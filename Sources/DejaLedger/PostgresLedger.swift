import DejaCore
import Logging
import PostgresNIO
import Synchronization

/// A ``Ledger`` on PostgreSQL, for many gateway instances sharing one ledger.
///
/// Same semantics as ``SQLiteLedger``. Every write is one transaction, committed before the call returns
/// (PostgreSQL's default `synchronous_commit=on` makes a commit durable). Budgets are checked under a row
/// lock (`SELECT … FOR UPDATE`) on the quota rows, so reservations from any number of instances never
/// overrun a budget. The schema is created or upgraded by ``open(configuration:clock:logger:)`` under a
/// transaction-scoped advisory lock, so instances starting together migrate once.
///
/// Lifetime: the ledger owns its `PostgresClient` (a connection pool) and runs it in a task it starts in
/// `open` and ends in ``close()``; the server need not add anything to its `ServiceGroup`, but must call
/// `close()` on shutdown, after in-flight requests have finished.
public final class PostgresLedger: Ledger {
    let client: PostgresClient
    let clock: WallClock
    let logger: Logger
    let options: LedgerOptions
    private let running: Task<Void, Never>
    private let closed = Mutex(false)

    /// Rows per INSERT statement; keeps bound parameters well under PostgreSQL's 65535.
    static let rowsPerInsert = 500

    private init(client: PostgresClient, running: Task<Void, Never>, clock: WallClock, logger: Logger, options: LedgerOptions) {
        self.client = client
        self.running = running
        self.clock = clock
        self.logger = logger
        self.options = options
    }

    /// Connects to `url` (`postgres://user:password@host:port/database[?schema=…&sslmode=…]`) and brings the
    /// schema up to date. See ``open(configuration:clock:logger:)``.
    public static func open(
        url: String,
        clock: WallClock = .system,
        logger: Logger = Logger(label: "deja.ledger.postgres"),
        options: LedgerOptions = LedgerOptions()
    ) async throws(LedgerError) -> PostgresLedger {
        var configuration = try Configuration(url: url)
        configuration.options = options
        return try await open(configuration: configuration, clock: clock, logger: logger)
    }

    /// Starts the connection pool, waits for the server and applies pending migrations.
    ///
    /// Throws ``LedgerError``: `migrationFailed` when the server cannot be reached within
    /// `configuration.connectTimeout` or the schema cannot be brought up to date (e.g. it was written by a newer Deja);
    /// `invalidArgument` for a bad schema name.
    public static func open(
        configuration: Configuration,
        clock: WallClock = .system,
        logger: Logger = Logger(label: "deja.ledger.postgres")
    ) async throws(LedgerError) -> PostgresLedger {
        if let schema = configuration.schema, !Configuration.isValidSchema(schema) {
            throw .invalid("schema must be letters, digits and underscores, not starting with a digit")
        }
        let client = PostgresClient(configuration: configuration.client, backgroundLogger: logger)
        let running = Task { await client.run() }
        do {
            try await withDeadline(configuration.connectTimeout) {
                try await Self.migrate(client, schema: configuration.schema, logger: logger)
            }
        } catch {
            running.cancel()
            await running.value
            if let error = unwrap(error) as? LedgerError { throw error }
            throw LedgerError(
                code: .migrationFailed,
                message: "could not connect to PostgreSQL at \(configuration.host):\(configuration.port) and prepare the ledger schema",
                underlying: unwrap(error)
            )
        }
        logger.debug(
            "opened PostgreSQL ledger",
            metadata: ["deja.ledger.host": .string(configuration.host), "deja.ledger.database": .string(configuration.database)]
        )
        let ledger = PostgresLedger(client: client, running: running, clock: clock, logger: logger, options: configuration.options)
        do {
            try await ledger.preparePartitions(at: clock.now())
        } catch {
            // Records still have the default partition; the janitor tries again.
            logger.warning("could not add this month's usage partitions", metadata: ["error": "\(error)"])
        }
        return ledger
    }

    /// Applies every migration the database has not seen yet, in one transaction holding the migration lock.
    static func migrate(_ client: PostgresClient, schema: String?, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
            if let schema {
                try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            }
            try await connection.query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", logger: logger)
            var version = 0
            for try await (found) in try await connection.query(
                "SELECT coalesce(max(version), 0)::bigint FROM schema_version", logger: logger
            ).decode(Int64.self) {
                version = Int(found)
            }
            guard version <= PostgresSchema.currentVersion else {
                throw LedgerError(
                    code: .migrationFailed,
                    message: "the ledger database has schema version \(version), newer than this Deja knows "
                        + "(\(PostgresSchema.currentVersion)); upgrade Deja"
                )
            }
            while version < PostgresSchema.currentVersion {
                for statement in PostgresSchema.migrations[version] {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                version += 1
                try await connection.query("INSERT INTO schema_version (version) VALUES (\(Int32(version)))", logger: logger)
                logger.info("migrated the ledger schema", metadata: ["deja.ledger.schema_version": "\(version)"])
            }
        }
    }

    /// Stops the connection pool. Later calls throw ``LedgerError`` with code `closed`; closing twice does nothing.
    /// Call after every other call has returned: queries still running are cancelled.
    public func close() async throws(LedgerError) {
        let wasClosed = closed.withLock { state in
            defer { state = true }
            return state
        }
        guard !wasClosed else { return }
        running.cancel()
        await running.value
    }

    // MARK: Helpers shared by the extensions

    var isClosed: Bool { closed.withLock { $0 } }

    /// Runs `body` in a transaction on a pooled connection; retries deadlocks and serialization failures;
    /// maps failures to ``LedgerError`` (a ``LedgerError`` thrown by `body` passes through).
    @discardableResult
    func transaction<T: Sendable>(
        _ message: String,
        _ body: (PostgresConnection) async throws -> T
    ) async throws(LedgerError) -> T {
        guard !isClosed else { throw .closedLedger }
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            } catch {
                let cause = Self.unwrap(error)
                if let cause = cause as? LedgerError { throw cause }
                if attempt < 5, let state = Self.sqlState(cause), state == "40001" || state == "40P01" { continue }
                throw .storage(message, cause)
            }
        }
    }

    /// Runs `body` (plain queries on the pool); maps failures to ``LedgerError``.
    @discardableResult
    func read<T>(_ message: String, _ body: () async throws -> T) async throws(LedgerError) -> T {
        guard !isClosed else { throw .closedLedger }
        do {
            return try await body()
        } catch {
            throw .storage(message, Self.unwrap(error))
        }
    }

    /// The error inside a `PostgresTransactionError`: the body's, else the commit's, else BEGIN's.
    static func unwrap(_ error: any Error) -> any Error {
        guard let transaction = error as? PostgresTransactionError else { return error }
        return transaction.closureError ?? transaction.commitError ?? transaction.beginError ?? error
    }

    /// The SQLSTATE of a server error, e.g. `23505` for a unique violation.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Runs `body`, failing with a timeout error once `limit` has passed.
    private static func withDeadline(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await body()
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let finished = try await group.next() ?? false
            group.cancelAll()
            guard finished else {
                throw LedgerError(code: .migrationFailed, message: "PostgreSQL did not answer within \(limit)")
            }
        }
    }
}
