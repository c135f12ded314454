import DejaCore
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// A ``Ledger`` in one SQLite file: API keys and usage records for a single machine.
///
/// The file runs in WAL mode with `synchronous=FULL`, so ``record(_:)`` returns only once its records are
/// committed and fsynced. Writes go through one connection behind a FIFO gate, so transactions never
/// interleave; concurrent `record` calls are committed together (group commit), one fsync for the group.
/// Reads (``authenticate(secret:)``, ``listKeys(tenant:)``, ``usage(_:)``) use a second, read-only
/// connection and see only committed data. Several processes (the gateway and the `deja` command) may
/// open the same file. `path` must name a file, not `:memory:`.
///
/// Both connections run their SQLite calls on two threads of the ledger's own, started in `open` and
/// stopped in ``close()``: a write waiting out another process's (or another ledger's) write lock blocks
/// one of them, never the process-wide pool that other SQLite files (the cache) use.
public final class SQLiteLedger: Ledger {
    let writer: SQLiteConnection
    let reader: SQLiteConnection
    private let threads: NIOThreadPool
    let clock: WallClock
    let logger: Logger
    let options: LedgerOptions
    let gate = WriteGate()
    let batches = Mutex(RecordBatches())
    private let closed = Mutex(false)
    /// Changes to the budgets, from any process (``QuotaSignal``).
    let quotaSignal: QuotaSignal
    /// Keys no budget applies to, while the signal stands (``QuotaMemo``).
    let quotaMemo = Mutex(QuotaMemo())

    /// Rows per INSERT statement; keeps bound parameters well under SQLite's limit.
    static let rowsPerInsert = 500

    private init(
        writer: SQLiteConnection, reader: SQLiteConnection, threads: NIOThreadPool, clock: WallClock, logger: Logger, options: LedgerOptions,
        quotaSignal: QuotaSignal
    ) {
        self.quotaSignal = quotaSignal
        self.options = options
        self.writer = writer
        self.reader = reader
        self.threads = threads
        self.clock = clock
        self.logger = logger
    }

    /// Opens (creating if needed) the ledger file at `path`, creating or upgrading its schema.
    ///
    /// Throws ``LedgerError``: `storageFailed` when the file cannot be opened, `migrationFailed` when the
    /// schema cannot be brought up to date (e.g. the file was written by a newer Deja).
    public static func open(
        path: String,
        clock: WallClock = .system,
        logger: Logger = Logger(label: "deja.ledger.sqlite"),
        options: LedgerOptions = LedgerOptions()
    ) async throws(LedgerError) -> SQLiteLedger {
        let threads = NIOThreadPool(numberOfThreads: 2)  // reads go on while a write waits for the lock
        threads.start()
        do {
            return try await open(path: path, threads: threads, clock: clock, logger: logger, options: options)
        } catch {
            await Task { try? await threads.shutdownGracefully() }.value
            throw error
        }
    }

    private static func open(
        path: String, threads: NIOThreadPool, clock: WallClock, logger: Logger, options: LedgerOptions
    ) async throws(LedgerError) -> SQLiteLedger {
        let writer = try await connect(path: path, threads: threads, logger: logger)
        var attempt = 0
        while true {
            attempt += 1
            do {
                // Before anything writes a new file's header (a no-op on an existing file): the janitor can then
                // give pages freed by retention back a few at a time (``purgeUsage(recordsBefore:countsBefore:limit:)``).
                _ = try await writer.query("PRAGMA auto_vacuum=INCREMENTAL")
                // Before the busy timeout: a busy WAL switch is retried here rather than waited out.
                _ = try await writer.query("PRAGMA journal_mode=WAL")
                // Another process (the `deja` command, a second gateway) may hold the write lock briefly.
                _ = try await writer.query("PRAGMA busy_timeout=10000")
                _ = try await writer.query("PRAGMA synchronous=FULL")
                // What a purged idempotent answer held is overwritten, not left in free pages.
                _ = try await writer.query("PRAGMA secure_delete=ON")
                try await migrate(writer, logger: logger)
                break
            } catch let error as SQLiteError where attempt < 100 && isBusy(error) {
                // Switching to WAL while another connection opens the same new file reports busy at once.
                try? await Task.sleep(for: .milliseconds(20))
            } catch {
                await closeIgnoringCancellation(writer)
                if let error = error as? LedgerError { throw error }
                throw LedgerError(code: .migrationFailed, message: "could not prepare the ledger schema", underlying: error)
            }
        }
        let reader: SQLiteConnection
        do {
            reader = try await connect(path: path, threads: threads, logger: logger)
        } catch {
            await closeIgnoringCancellation(writer)
            throw error
        }
        do {
            _ = try await reader.query("PRAGMA query_only=ON")
            _ = try await reader.query("PRAGMA busy_timeout=10000")
        } catch {
            await closeIgnoringCancellation(reader)
            await closeIgnoringCancellation(writer)
            throw .storage("could not open a read connection to the ledger", error)
        }
        logger.debug("opened SQLite ledger", metadata: ["deja.ledger.path": .string(path)])
        return SQLiteLedger(writer: writer, reader: reader, threads: threads, clock: clock, logger: logger, options: options,
                            quotaSignal: QuotaSignal(ledgerPath: path))
    }

    /// Closes `connection` even when the calling task is cancelled (SQLiteNIO refuses to close from a
    /// cancelled task, and a connection dropped unclosed traps).
    private static func closeIgnoringCancellation(_ connection: SQLiteConnection) async {
        await Task { try? await connection.close() }.value
    }

    private static func isBusy(_ error: SQLiteError) -> Bool {
        if case .busy = error.reason { return true }
        return false
    }

    private static func connect(path: String, threads: NIOThreadPool, logger: Logger) async throws(LedgerError) -> SQLiteConnection {
        do {
            return try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threads, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            throw .storage("could not open the ledger file", error)
        }
    }

    /// Applies every migration the database has not seen yet, each in its own transaction.
    static func migrate(_ connection: SQLiteConnection, logger: Logger) async throws {
        _ = try await connection.query("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        while true {
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                let rows = try await connection.query("SELECT max(version) AS version FROM schema_version")
                let version = rows.first?.column("version")?.integer ?? 0
                guard version < LedgerSchema.currentVersion else {
                    _ = try await connection.query("COMMIT")
                    guard version == LedgerSchema.currentVersion else {
                        throw LedgerError(
                            code: .migrationFailed,
                            message: "the ledger file has schema version \(version), newer than this Deja knows "
                                + "(\(LedgerSchema.currentVersion)); upgrade Deja"
                        )
                    }
                    return
                }
                for statement in LedgerSchema.migrations[version] {
                    _ = try await connection.query(statement)
                }
                _ = try await connection.query("INSERT INTO schema_version (version) VALUES (?)", [.integer(version + 1)])
                _ = try await connection.query("COMMIT")
                logger.info("migrated the ledger schema", metadata: ["deja.ledger.schema_version": "\(version + 1)"])
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Closes both connections, after any write in progress, and stops the ledger's threads. Later calls
    /// throw ``LedgerError`` with code `closed`; closing twice does nothing.
    public func close() async throws(LedgerError) {
        let wasClosed: Bool = await gate.withGate {
            closed.withLock { state in
                defer { state = true }
                return state
            }
        }
        guard !wasClosed else { return }
        var failure: (any Error)?
        do { try await writer.close() } catch { failure = error }
        do { try await reader.close() } catch { failure = error }
        await Task { [threads] in try? await threads.shutdownGracefully() }.value
        if let failure { throw .storage("could not close the ledger file", failure) }
    }

    /// Appends `records` in one transaction, committed and fsynced before this returns.
    ///
    /// Concurrent calls are committed together; each call still succeeds or fails as a whole.
    public func record(_ records: [UsageRecord]) async throws(LedgerError) {
        try await record(records, settling: [])
    }

    /// Appends `records` and removes `reservations` in one transaction, committed and fsynced before this returns.
    ///
    /// Concurrent calls are committed together; each call still succeeds or fails as a whole.
    public func record(_ records: [UsageRecord], settling reservations: [Reservation]) async throws(LedgerError) {
        guard !records.isEmpty || !reservations.isEmpty else { return }
        guard !isClosed else { throw .closedLedger }
        let ticket = batches.withLock { $0.enqueue(records, settling: reservations.filter(\.holds).map(\.id)) }
        do {
            try await gate.withGate {
                // Another caller may have committed this batch with its own while this one waited.
                if let result = batches.withLock({ $0.takeResult(ticket) }) { return try result.get() }
                guard !isClosed else { throw LedgerError.closedLedger }
                try await commitPending(ticket: ticket)
            }
        } catch {
            throw .storage("could not record usage", error)
        }
    }

    /// Commits every queued batch in one transaction and leaves the result for the other batches' callers.
    /// Call only while holding the write gate; throws the failure for `ticket`'s own caller.
    private func commitPending(ticket: Int) async throws {
        let group = batches.withLock { $0.drain() }
        let records = group.flatMap(\.records), settling = group.flatMap(\.settling)
        let result: Result<Void, LedgerError>
        do {
            if settling.isEmpty && records.count <= Self.rowsPerInsert {
                // One statement is its own transaction: atomic, and fsynced at its end (synchronous=FULL),
                // in one trip to the ledger's thread instead of four.
                try await insert(records)
            } else {
                try await transaction {
                    try await insert(records)
                    try await deleteReservations(settling)
                }
            }
            result = .success(())
        } catch {
            result = .failure(.storage("could not record usage", error))
        }
        batches.withLock { $0.settle(group.lazy.map(\.ticket).filter { $0 != ticket }, result) }
        try result.get()
    }

    /// Deletes reservations by id. Call only while holding the write gate.
    func deleteReservations(_ ids: [String]) async throws {
        var start = 0
        while start < ids.count {
            let chunk = ids[start..<min(start + Self.rowsPerInsert, ids.count)]
            let placeholders = repeatElement("?", count: chunk.count).joined(separator: ", ")
            _ = try await writer.query("DELETE FROM reservations WHERE id IN (\(placeholders))", chunk.map { .text($0) })
            start += Self.rowsPerInsert
        }
    }

    /// Inserts records. Call only while holding the write gate, inside a transaction (or alone, when they
    /// fit one statement).
    func insert(_ records: [UsageRecord]) async throws {
        var start = 0
        while start < records.count {
            let chunk = records[start..<min(start + Self.rowsPerInsert, records.count)]
            let placeholders = repeatElement("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 11)
            for record in chunk {
                binds += [
                    .float(record.time), .text(record.tenant), .text(record.keyID), .text(record.task),
                    .text(record.outcome.rawValue), .integer(Int(record.meteredTokens)),
                    .integer(Int(record.billedTokens)), .integer(Int(record.latencyMicros)),
                    .integer(record.status), .float(record.modelSeconds),
                    record.contentKey.map { .blob(ByteBuffer(bytes: $0.bytes)) } ?? .null,
                ]
            }
            _ = try await writer.query(
                """
                INSERT INTO usage (\(ReportSQL.recordColumns))
                VALUES \(placeholders)
                """,
                binds
            )
            start += Self.rowsPerInsert
        }
    }

    // MARK: Helpers shared by the extensions

    /// Runs `body` holding the write gate; maps failures to ``LedgerError``.
    func write<T>(_ message: String, _ body: () async throws -> T) async throws(LedgerError) -> T {
        guard !isClosed else { throw .closedLedger }
        do {
            return try await gate.withGate {
                guard !isClosed else { throw LedgerError.closedLedger }
                return try await body()
            }
        } catch {
            throw .storage(message, error)
        }
    }

    /// Runs `body` on the read connection; maps failures to ``LedgerError``.
    func read<T>(_ message: String, _ body: () async throws -> T) async throws(LedgerError) -> T {
        guard !isClosed else { throw .closedLedger }
        do {
            return try await body()
        } catch {
            throw .storage(message, error)
        }
    }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT on the write connection; rolls back when it throws.
    /// Call only while holding the write gate.
    func transaction(_ body: () async throws -> Void) async throws {
        _ = try await writer.query("BEGIN IMMEDIATE")
        do {
            try await body()
            _ = try await writer.query("COMMIT")
        } catch {
            _ = try? await writer.query("ROLLBACK")
            throw error
        }
    }

    var isClosed: Bool { closed.withLock { $0 } }
}
