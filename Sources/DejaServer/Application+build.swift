import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import DejaRedis
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOPosix
import Prometheus
import ServiceLifecycle

/// The request context of Deja's routes.
public typealias DejaRequestContext = BasicRequestContext

/// Builds the gateway application from a configuration: stores, ledger, model client, routes.
///
/// The executable and the tests call this same builder. Opening the SQLite files happens here, so a
/// bad storage path fails before the server listens. Long-lived parts run as services of the
/// application and stop gracefully after the server has finished its in-flight requests.
public func buildApplication(
    configuration: DejaConfiguration,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    clock: WallClock = .system,
    logger: Logger = Logger(label: "deja")
) async throws -> some ApplicationProtocol {
    let tasks = try configuration.taskRuntimes(clock: clock)
    // Off: no tracer, no service, and the request path pays a branch on `nil`.
    let tracing = try TraceExport.make(configuration.tracing, logger: logger)
    let parts = try await DejaComponents.open(configuration: configuration, clock: clock, logger: logger)

    let router = Router(context: DejaRequestContext.self)
    router.add(middleware: ErrorEnvelopeMiddleware(taskRoutes: tasks.map(\.route)))
    // Large bodies are canonicalised here, never on the threads that answer hits and health checks.
    let canonicalPool = NIOThreadPool(numberOfThreads: configuration.server.canonicalThreads)
    canonicalPool.start()
    let gateway = Gateway(
        cache: parts.cache, fastCache: parts.memory, sealer: parts.sealer, recorder: parts.recorder, upstream: parts.upstream,
        refresher: parts.refresher, coordinator: parts.redis, clock: clock, workers: CanonicalWorkers(pool: canonicalPool),
        metrics: GatewayMetrics(tasks: tasks.map(\.policy.task)), tracer: tracing.tracer, logger: logger
    )
    let rateLimiter = configuration.server.rateLimitPerSecond > 0
        ? RateLimiter(
            perSecond: configuration.server.rateLimitPerSecond,
            burst: configuration.server.rateLimitBurst ?? 2 * configuration.server.rateLimitPerSecond,
            clock: clock)
        : nil
    let authenticator = Authenticator(ledger: parts.ledger, clock: clock)
    let revocations = KeyRevocations(
        redis: parts.redis?.redis, channel: KeyRevocations.channel(prefix: parts.redis?.configuration.keyPrefix),
        authenticator: authenticator, logger: logger)
    let adminToken = configuration.adminToken.map(AdminToken.init)
    let bodyTimeout = Duration.milliseconds(Int64(configuration.server.bodyTimeoutSeconds * 1000))
    let bodyBudget = BodyBudget(
        maxBytes: configuration.server.maxInFlightBodyBytes, maxBytesPerKey: configuration.server.maxInFlightBodyBytesPerKey)
    TaskController(
        tasks: tasks, gateway: gateway, authenticator: authenticator, rateLimiter: rateLimiter,
        maxBodyBytes: configuration.server.maxBodyBytes, bodyTimeout: bodyTimeout, bodyBudget: bodyBudget,
        fastPathInFront: configuration.server.fastPath, tracer: tracing.tracer
    ).addRoutes(to: router)
    UsageController(ledger: parts.ledger, authenticator: authenticator, recorder: parts.recorder, adminToken: adminToken)
        .addRoutes(to: router)
    HealthController(tasks: tasks, ledger: parts.ledger, upstream: parts.upstream, redis: parts.redis)
        .addRoutes(to: router)
    let purger = CachePurger(memory: parts.memory, tiered: parts.tiered, sqlite: parts.sqlite, redis: parts.redis, tasks: tasks.map(\.policy.task), logger: logger)
    AdminController(tasks: tasks, adminToken: adminToken, maxBodyBytes: configuration.server.maxBodyBytes,
                    ledger: parts.ledger, revocations: revocations, purger: purger, clock: clock)
        .addRoutes(to: router)
    MetricsController(registry: registry, tasks: tasks, memory: parts.memory, recorder: parts.recorder, redis: parts.redis,
                      tiered: parts.tiered)
        .addRoutes(to: router)
    DashboardController(
        tasks: tasks, ledger: parts.ledger, authenticator: authenticator, recorder: parts.recorder, adminToken: adminToken,
        memory: parts.memory, redis: parts.redis, store: parts.redis != nil ? "redis" : parts.sqlite != nil ? "sqlite" : "memory",
        maxBodyBytes: configuration.server.maxBodyBytes, clock: clock
    ).addRoutes(to: router)
    WarmController(store: parts.tiered, ledger: parts.ledger, tasks: tasks,
                   budget: configuration.storage.preloadBytes, adminToken: adminToken, clock: clock)
        .addRoutes(to: router)

    let serverName = "deja"
    let fastPath = configuration.server.fastPath ? HitFastPath(
        tasks: tasks, gateway: gateway, authenticator: authenticator, rateLimiter: rateLimiter,
        maxBodyBytes: configuration.server.maxBodyBytes, bodyTimeout: bodyTimeout, bodyBudget: bodyBudget, serverName: serverName,
        registry: registry, tracer: tracing.tracer, plainHits: configuration.server.plainHits
    ) : nil
    let timeouts = ConnectionTimeouts(
        idle: .milliseconds(Int64(configuration.server.idleTimeoutSeconds * 1000)),
        header: .milliseconds(Int64(configuration.server.headerTimeoutSeconds * 1000)))
    let lingering = LingeringClose(
        time: .milliseconds(Int64(configuration.server.lingerSeconds * 1000)),
        maxBytes: configuration.server.lingerBytes ?? max(4 * configuration.server.maxBodyBytes, 64 << 20))
    let server = HTTPServerBuilder { responder in
        DejaHTTP1Channel(responder: responder, fastPath: fastPath, timeouts: timeouts, lingering: lingering)
    }
    // One health monitor per task (and per gray release candidate), at the task's interval.
    let monitors: [any Service] = zip(configuration.tasks, tasks).filter { $0.0.healthCheckSeconds > 0 }.flatMap { task, runtime in
        ([runtime.upstreams] + [runtime.gray?.candidate.upstreams].compactMap { $0 }).map { pool in
            UpstreamHealthMonitor(pool: pool, client: parts.upstream,
                                  interval: .milliseconds(Int64(task.healthCheckSeconds * 1000)), logger: logger)
        }
    }
    let app = Application(
        router: router,
        server: server,
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.server.host, port: configuration.server.port),
            serverName: serverName
        ),
        // The span exporter first, so it stops last: the spans of the last requests are exported.
        services: (tracing.service.map { [$0] } ?? []) + parts.services + monitors + [revocations, purger, ThreadPoolService(pool: canonicalPool)],
        // A configured thread count gets its own group, which lives as long as the process.
        eventLoopGroupProvider: configuration.server.eventLoopThreads.map {
            .shared(MultiThreadedEventLoopGroup(numberOfThreads: $0))
        } ?? .singleton,
        logger: logger
    )
    app.logger.info("deja configured", metadata: [
        "deja.tasks": "\(tasks.map { "\($0.route) -> \($0.upstreams.members.map(\.url).joined(separator: " | "))" }.joined(separator: ", "))",
        "deja.storage": "\(configuration.storage.path)",
    ])
    return app
}

/// The long-lived parts of a gateway, opened from configuration; shared by the server and the CLI.
public struct DejaComponents: Sendable {
    public var memory: MemoryStore?
    public var cache: any CacheStore
    /// Seals what the persistent tiers and the ledger's idempotency table keep.
    public var sealer: EntrySealer
    public var ledger: any Ledger
    public var recorder: UsageRecorder
    public var upstream: UpstreamClient
    public var refresher: BackgroundRefresher
    /// The cache as memory in front of SQLite or Redis; `nil` for a memory-only cache.
    public var tiered: TieredStore? { cache as? TieredStore }
    /// The shared Redis store, when `storage.cache` names one.
    public var redis: RedisStore?
    /// The SQLite cache, when answers persist in the storage folder (no Redis).
    public var sqlite: SQLiteStore?
    /// In start order; they stop in reverse, so the recorder flushes before the stores close.
    public var services: [any Service]

    /// Opens the embedded stores under `storage.path` (created if missing).
    public static func open(configuration: DejaConfiguration, clock: WallClock, logger: Logger) async throws -> DejaComponents {
        let sealer = EntrySealer(secrets: try StorageFolder.sealSecrets(configuration: configuration, logger: logger))
        let ledger = try await openLedger(configuration: configuration, clock: clock, logger: logger)
        let memory = MemoryStore(budget: configuration.storage.memoryBytes, clock: clock)
        let cache: any CacheStore
        var closers: [@Sendable () async throws -> Void] = [{ try await ledger.close() }]
        var clientServices: [any Service] = []
        var redis: RedisStore?
        var sqliteCache: SQLiteStore?
        if let url = configuration.storage.cache {
            let executor = try redisClient(url: url, logger: logger)
            let store = RedisStore(redis: executor, sealer: sealer, clock: clock, logger: logger)
            clientServices.append(executor)
            redis = store
            cache = TieredStore(l1: memory, l2: store)
        } else if configuration.storage.persistent {
            let path = configuration.storage.path + "/cache.sqlite"
            StorageFolder.createPrivately(path)
            // This process alone writes the file, so the store may keep its keys (KeyPresence).
            let sqlite = try await SQLiteStore.open(path: path, sealer: sealer, clock: clock, logger: logger, tracksKeys: true)
            closers.append { try await sqlite.close() }
            sqliteCache = sqlite
            cache = TieredStore(l1: memory, l2: sqlite, writeBehind: configuration.storage.writeBehind)
        } else {
            cache = memory
        }
        let recorder = UsageRecorder(
            ledger: ledger, recordingAll: Set(configuration.tasks.filter { $0.usage.records == "all" }.map(\.name)), logger: logger
        )
        let upstream = UpstreamClient()
        let refresher = BackgroundRefresher()
        return DejaComponents(
            memory: memory, cache: cache, sealer: sealer, ledger: ledger, recorder: recorder, upstream: upstream, refresher: refresher,
            redis: redis, sqlite: sqliteCache,
            services: [ClosingService(closers: closers, logger: logger)] + clientServices + [upstream, recorder, refresher,
                Janitor(memory: memory, sqlite: sqliteCache, redis: redis, indexRetention: configuration.indexRetention,
                        ledger: ledger, interval: .seconds(60), logger: logger, clock: clock,
                        recordRetention: configuration.storage.recordRetentionDays > 0 ? configuration.storage.recordRetentionDays * 86_400 : nil,
                        countRetention: configuration.storage.countRetentionDays > 0 ? configuration.storage.countRetentionDays * 86_400 : nil)]
                + ((cache as? TieredStore).map { [MemoryWarmer(store: $0, budget: configuration.storage.preloadBytes, logger: logger)] } ?? [])
        )
    }

    /// A client for the `storage.cache` URL: Redis, Redis over TLS or Redis Cluster. It works while it runs
    /// as a service.
    public static func redisClient(url: String, logger: Logger) throws -> any RedisCommandExecutor & Service {
        do {
            if url.hasPrefix("redis-cluster://") {
                let seeds = String(url.dropFirst("redis-cluster://".count))
                return RedisClusterClient(configuration: try RedisClusterConfiguration(seedList: seeds), logger: logger)
            }
            return try RedisClient(url: url, logger: logger)
        } catch {
            throw ConfigurationError("storage.cache: \(error)")
        }
    }

    /// Opens the SQLite ledger under `storage.path`; the CLI uses this alone.
    public static func openLedger(configuration: DejaConfiguration, clock: WallClock = .system, logger: Logger) async throws -> any Ledger {
        try StorageFolder.prepare(configuration.storage.path)
        if let url = configuration.storage.ledger {
            return try await PostgresLedger.open(url: url, clock: clock, logger: logger)
        }
        let path = configuration.storage.path + "/ledger.sqlite"
        StorageFolder.createPrivately(path)
        return try await SQLiteLedger.open(path: path, clock: clock, logger: logger)
    }
}

/// Closes stores when the application stops, after the services that write to them.
struct ClosingService: Service {
    let closers: [@Sendable () async throws -> Void]
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        // Also when the group is cancelled (a service failed, e.g. the server could not bind its
        // port): a store closes whole, so the closing runs in a task that does not inherit the
        // cancellation.
        let closers = closers, logger = logger
        await Task {
            for close in closers {
                do {
                    try await close()
                } catch {
                    logger.error("closing a store failed", metadata: ["error": "\(error)"])
                }
            }
        }.value
    }
}

/// Shuts a thread pool down when the application stops.
struct ThreadPoolService: Service {
    let pool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }
}

extension DejaConfiguration {
    /// Per task, twice the longest an entry can be kept: TTL with its largest jitter plus the longest
    /// stale or negative window, doubled for Redis's own TTL jitter and clock skew between instances.
    var indexRetention: [String: Double] {
        Dictionary(uniqueKeysWithValues: tasks.map { task in
            let longest = task.ttlSeconds * (1 + min(max(task.ttlJitter, 0), 0.5))
                + max(task.staleIfErrorSeconds, task.staleWhileRevalidateSeconds, task.negativeTTLSeconds)
            return (task.name, 2 * longest)
        })
    }
}
