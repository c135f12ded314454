import DejaCore
import ServiceLifecycle
import Synchronization

/// Runs cache refreshes in the background, at most one per key at a time; a `Service`.
///
/// Used for stale-while-revalidate: the request that finds an expired entry is answered from it at
/// once and submits a refresh here. On graceful shutdown no new refresh starts and the ones running
/// finish.
public final class BackgroundRefresher: Service, Sendable {
    struct Job: Sendable {
        var key: CacheKey
        var work: @Sendable () async -> Void
    }

    private let pending = Mutex<Set<CacheKey>>([])
    private let stream: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    public init(maxQueued: Int = 10_000) {
        (stream, continuation) = AsyncStream.makeStream(of: Job.self, bufferingPolicy: .bufferingOldest(maxQueued))
    }

    /// Schedules `work` for `key` unless a refresh of that key is already pending; returns whether it did.
    @discardableResult
    public func submit(_ key: CacheKey, work: @escaping @Sendable () async -> Void) -> Bool {
        let isNew = pending.withLock { $0.insert(key).inserted }
        guard isNew else { return false }
        if case .enqueued = continuation.yield(Job(key: key, work: work)) { return true }
        pending.withLock { _ = $0.remove(key) }
        return false
    }

    /// Keys with a refresh pending or running.
    public var pendingCount: Int { pending.withLock { $0.count } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await job in stream {
                    group.addTask {
                        await job.work()
                        self.pending.withLock { _ = $0.remove(job.key) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }
}
