import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Threads for the CPU-heavy work on a request body (its digest and its canonical form), kept apart
/// from the threads that answer hits (the event loops) and run handlers (Swift concurrency's pool).
///
/// On Linux the work runs at a lower scheduling priority (nice 10), so however much of it a tenant
/// sends, a hit or a health check that becomes runnable takes the core first. Bodies under
/// ``inlineBytes`` are worked on where they are: the hop would cost more than the work.
public struct CanonicalWorkers: Sendable {
    /// Bodies smaller than this are worked on by the caller.
    public static let inlineBytes = 32 << 10

    let pool: NIOThreadPool

    /// - Parameter pool: a started pool; its owner shuts it down.
    public init(pool: NIOThreadPool) {
        self.pool = pool
    }

    /// Runs `work` on the pool when `bytes` is large, else here. Its typed error comes back as is.
    func run<T: Sendable, E: Error>(bytes: Int, _ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        guard bytes >= Self.inlineBytes else { return try work() }
        let result: Result<T, E>
        do {
            result = try await pool.runIfActive {
                Self.yieldToServingThreads()
                return Result { () throws(E) in try work() }
            }
        } catch {
            return try work()  // the pool is shutting down: the process is stopping; do it here
        }
        return try result.get()
    }

    /// Lowers this thread's priority below the serving threads'; once per thread is enough, again is harmless.
    private static func yieldToServingThreads() {
        #if os(Linux)
        // Linux keeps a nice value per thread; PRIO_PROCESS with id 0 sets the calling thread's.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }
}
