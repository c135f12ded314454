import DejaCache
import DejaCore
import DejaGateway
import Foundation
import Hummingbird
import Prometheus

/// The metrics backend `deja serve` bootstraps: Prometheus, with the buckets Deja's histograms need.
public enum DejaMetrics {
    /// A factory writing into `registry`; ledger commits get buckets from 1 ms to 5 s.
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets[UsageRecorder.commitMetric] = UsageRecorder.commitBuckets
        return factory
    }
}

/// `GET /metrics`: Prometheus text format, from the registry the executable bootstrapped metrics with.
///
/// Cache, queue and breaker gauges are sampled at scrape time, so nothing on the request path updates them.
struct MetricsController<Context: RequestContext>: Sendable {
    let registry: PrometheusCollectorRegistry
    /// Every task's model servers, each with the gauge of its breaker.
    private let upstreamBreakers: [(breaker: CircuitBreaker, gauge: Gauge)]
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

    init(registry: PrometheusCollectorRegistry, tasks: [TaskRuntime], memory: MemoryStore?, recorder: UsageRecorder, redis: RedisStore?,
         tiered: TieredStore?) {
        self.registry = registry
        self.upstreamBreakers = tasks.flatMap(\.modelServerGroups).flatMap { group, pool in
            Self.upstreamLabels(pool.members.map(\.url)).enumerated().map { index, label in
                (pool.members[index].breaker, registry.makeGauge(
                    name: "deja_upstream_circuit_open", labels: [("task", group), ("upstream", label)],
                    help: "1 while a model server's breaker stops calls to it (open or half-open), 0 when closed"))
            }
        }
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

    /// The `upstream` label of each of a task's servers: `host:port` (never the user or password a URL
    /// may hold); servers sharing a `host:port` get their position too, counted from 1 as in `/readyz`.
    static func upstreamLabels(_ urls: [String]) -> [String] {
        let hosts = urls.map { url -> String in
            guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else { return "?" }
            let port = components.port ?? (components.scheme == "https" ? 443 : 80)
            let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            return bare.contains(":") ? "[\(bare)]:\(port)" : "\(bare):\(port)"
        }
        return hosts.enumerated().map { index, host in
            hosts.filter { $0 == host }.count > 1 ? "\(host)#\(index + 1)" : host
        }
    }

    func scrape() async -> Response {
        for (breaker, gauge) in upstreamBreakers {
            gauge.set(Double(breaker.state == .closed ? 0 : 1))
        }
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
