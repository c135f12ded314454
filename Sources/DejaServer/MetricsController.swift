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
    private let memoryBytes: Gauge
    private let memoryEntries: Gauge
    private let memoryBudget: Gauge
    private let usageQueue: Gauge

    init(registry: PrometheusCollectorRegistry, memory: MemoryStore?, recorder: UsageRecorder) {
        self.registry = registry
        self.memory = memory
        self.recorder = recorder
        self.memoryBytes = registry.makeGauge(name: "deja_cache_memory_bytes", help: "Bytes held by the in-memory cache")
        self.memoryEntries = registry.makeGauge(name: "deja_cache_memory_entries", help: "Entries in the in-memory cache")
        self.memoryBudget = registry.makeGauge(name: "deja_cache_memory_budget_bytes", help: "Byte budget of the in-memory cache")
        self.usageQueue = registry.makeGauge(name: "deja_usage_queue_depth", help: "Usage records waiting to be written")
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/metrics") { _, _ in
            self.scrape()
        }
    }

    func scrape() -> Response {
        if let memory {
            memoryBytes.set(Double(memory.bytesUsed))
            memoryEntries.set(Double(memory.count))
            memoryBudget.set(Double(memory.budget))
        }
        usageQueue.set(Double(recorder.queued))
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
