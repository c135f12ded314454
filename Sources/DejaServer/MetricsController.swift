import DejaCache
import DejaGateway
import Hummingbird
import Prometheus

/// `GET /metrics`: Prometheus text format, from the registry the executable bootstrapped metrics with.
///
/// Cache and queue gauges are sampled at scrape time, so nothing on the request path updates them.
struct MetricsController<Context: RequestContext>: Sendable {
    let registry: PrometheusCollectorRegistry
    let memory: MemoryStore?
    let recorder: UsageRecorder
    let redis: RedisStore?
    /// The tiered cache, whose preloaded entries are sampled too.
    let tiered: TieredStore?
    private let memoryBytes: Gauge
    private let redisUp: Gauge
    private let redisBreaker: Gauge
    private let redisUsed: Gauge
    private let redisMax: Gauge
    private let redisEvicted: Gauge
    private let memoryEntries: Gauge
    private let memoryBudget: Gauge
    private let usageQueue: Gauge
    private let preloadedEntries: Gauge
    private let preloadedBytes: Gauge

    init(registry: PrometheusCollectorRegistry, memory: MemoryStore?, recorder: UsageRecorder, redis: RedisStore?, tiered: TieredStore?) {
        self.registry = registry
        self.tiered = tiered
        self.memory = memory
        self.recorder = recorder
        self.redis = redis
        self.redisUp = registry.makeGauge(name: "deja_cache_redis_up", help: "1 when the shared Redis cache answers")
        self.redisBreaker = registry.makeGauge(
            name: "deja_cache_redis_circuit_open", help: "1 while the Redis breaker stops calls to a failing Redis (requests go to the model)")
        self.redisUsed = registry.makeGauge(name: "deja_cache_redis_used_memory_bytes", help: "Redis used_memory")
        self.redisMax = registry.makeGauge(name: "deja_cache_redis_maxmemory_bytes", help: "Redis maxmemory (0 = unlimited)")
        self.redisEvicted = registry.makeGauge(name: "deja_cache_redis_evicted_keys", help: "Redis evicted_keys")
        self.memoryBytes = registry.makeGauge(name: "deja_cache_memory_bytes", help: "Bytes held by the in-memory cache")
        self.memoryEntries = registry.makeGauge(name: "deja_cache_memory_entries", help: "Entries in the in-memory cache")
        self.memoryBudget = registry.makeGauge(name: "deja_cache_memory_budget_bytes", help: "Byte budget of the in-memory cache")
        self.usageQueue = registry.makeGauge(name: "deja_usage_queue_depth", help: "Usage records waiting to be written")
        self.preloadedEntries = registry.makeGauge(
            name: "deja_cache_preloaded_entries", help: "Answers preloaded into memory, still sealed, waiting for their first request")
        self.preloadedBytes = registry.makeGauge(name: "deja_cache_preloaded_bytes", help: "Bytes held by preloaded answers")
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/metrics") { _, _ in
            await self.scrape()
        }
    }

    func scrape() async -> Response {
        if let redis {
            redisBreaker.set(Double(redis.breaker.state == .closed ? 0 : 1))
            if let capacity = try? await redis.capacity() {
                redisUp.set(Double(1))
                redisUsed.set(Double(capacity.usedMemory))
                redisMax.set(Double(capacity.maxMemory))
                redisEvicted.set(Double(capacity.evictedKeys))
            } else {
                redisUp.set(Double(0))
            }
        }
        if let memory {
            memoryBytes.set(Double(memory.bytesUsed))
            memoryEntries.set(Double(memory.count))
            memoryBudget.set(Double(memory.budget))
        }
        usageQueue.set(Double(recorder.queued))
        if let tiered {
            preloadedEntries.set(Double(tiered.preloadedEntries))
            preloadedBytes.set(Double(tiered.preloadedBytes))
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 << 10)
        registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
}
