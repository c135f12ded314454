import Hummingbird
import Logging

/// Runs a test's own HTTP server (a model or collector stub) on a free loopback port.
enum LoopbackServer {
    /// Serves `router` on 127.0.0.1 until the returned task is cancelled; returns its port and that task.
    static func start(_ router: Router<BasicRequestContext>, label: String) async throws -> (port: Int, task: Task<Void, any Error>) {
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: label)
        logger.logLevel = .critical  // its own shutdown is not the test's news
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next(), port > 0 else { throw CancellationError() }
        return (port, task)
    }
}
