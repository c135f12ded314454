import DejaCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// One model server behind a task: its URL, its own circuit breaker and its last health check.
public final class Upstream: Sendable {
    /// Where the task's requests are posted, e.g. `http://10.0.0.5:8866/ocr`.
    public let url: String
    /// A URL answering 200 while the server is up; `nil` skips health checks for it.
    public let healthURL: String?
    /// Stops calls to this server while it keeps failing.
    public let breaker: CircuitBreaker
    private let health = Mutex(Health())

    private struct Health {
        var up = true
        var consecutiveFailures = 0
    }

    public init(url: String, healthURL: String? = nil, breaker: CircuitBreaker = CircuitBreaker()) {
        self.url = url
        self.healthURL = healthURL
        self.breaker = breaker
    }

    /// Whether the last health checks passed (servers start as up, so nothing waits for a first check).
    public var isUp: Bool { health.withLock { $0.up } }

    /// Records a health check: down after `downAfter` consecutive failures, up again after one success.
    public func recordHealth(ok: Bool, downAfter: Int = 2) {
        health.withLock { health in
            if ok {
                health = Health()
            } else {
                health.consecutiveFailures += 1
                if health.consecutiveFailures >= downAfter { health.up = false }
            }
        }
    }
}

/// The model servers of one task, balanced round robin over those that are up.
///
/// A call takes the servers in ``candidates()`` order: the healthy ones first, starting one further
/// each call, then the ones whose health check failed (a health check can be wrong; a breaker that
/// lets a call through still decides). Each server's breaker is asked before it is used.
public final class UpstreamPool: Sendable {
    public let members: [Upstream]
    private let cursor = Atomic<Int>(0)

    public init(_ members: [Upstream]) {
        precondition(!members.isEmpty, "a task needs at least one model server")
        self.members = members
    }

    /// The servers to try for one call, in order.
    public func candidates() -> [Upstream] {
        guard members.count > 1 else { return members }
        let start = cursor.add(1, ordering: .relaxed).oldValue & Int.max
        let up = members.filter(\.isUp)
        let down = members.filter { !$0.isUp }
        // Rotate within each group, so the servers that are up share the load evenly.
        func rotated(_ group: [Upstream]) -> [Upstream] {
            guard !group.isEmpty else { return group }
            let offset = start % group.count
            return Array(group[offset...] + group[..<offset])
        }
        return rotated(up) + rotated(down)
    }
}

/// Checks every model server's health URL every `interval`, so balancing skips servers that are down
/// before a client's request has to find out.
public struct UpstreamHealthMonitor: Service {
    let pool: UpstreamPool
    let client: UpstreamClient
    let interval: Duration
    let timeout: TimeAmount
    let logger: Logger

    public init(pool: UpstreamPool, client: UpstreamClient, interval: Duration, timeout: TimeAmount = .seconds(2), logger: Logger) {
        self.pool = pool
        self.client = client
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        let members = pool.members.filter { $0.healthURL != nil }
        guard !members.isEmpty, interval > .zero else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await checkAll(members)
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One round of checks, concurrently.
    public func checkAll(_ members: [Upstream]) async {
        await withTaskGroup(of: Void.self) { group in
            for member in members {
                guard let url = member.healthURL else { continue }
                group.addTask {
                    let ok: Bool
                    do {
                        ok = try await client.get(url: url, timeout: timeout).status == 200
                    } catch {
                        ok = false
                    }
                    let wasUp = member.isUp
                    member.recordHealth(ok: ok)
                    if wasUp != member.isUp {
                        logger.warning("model server \(member.isUp ? "is up again" : "is down")", metadata: ["deja.upstream": "\(member.url)"])
                    }
                }
            }
        }
    }
}
