import DejaCache
import DejaCore
import Logging
import ServiceLifecycle

/// Keeps the memory tier warm across restarts.
///
/// Every `interval` and once more at shutdown it records which keys this instance used most recently
/// (``DejaCache/MemoryStore/recentKeys(upToBytes:)``, up to the preload budget) in the persistent tier, so
/// the list is shared by every instance on one Redis or every run on one SQLite file. At start it reads
/// that list back and preloads those entries, sealed, into memory in the background
/// (``DejaCache/TieredStore/preload(budget:limit:)``): the first request for each key then opens its entry
/// in memory instead of waiting on SQLite or Redis. Serving starts at once; it never waits for the preload.
struct MemoryWarmer: Service {
    let store: TieredStore
    let budget: Int
    let interval: Duration
    let logger: Logger
    /// How many keys the shared list keeps.
    static let listLimit = 100_000

    init(store: TieredStore, budget: Int, interval: Duration = .seconds(60), logger: Logger) {
        self.store = store
        self.budget = budget
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        guard budget > 0 else {
            // A service that returns stops the server: wait for the shutdown like the others.
            try? await gracefulShutdown()
            return
        }
        await preload()
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await record()
            }
        }
        // Once more on the way out, before the stores close (services stop in reverse order).
        await record()
    }

    private func preload() async {
        let started = ContinuousClock.now
        do {
            let report = try await store.preload(budget: budget, limit: Self.listLimit)
            guard report.requested > 0 else { return }
            logger.info("preloaded recently used answers into memory", metadata: [
                "deja.preload.loaded": "\(report.loaded)", "deja.preload.bytes": "\(report.bytes)",
                "deja.preload.not_stored": "\(report.notStored)", "deja.preload.over_budget": "\(report.overBudget)",
                "deja.preload.duration": "\(ContinuousClock.now - started)",
            ])
        } catch {
            logger.warning("could not preload recently used answers; they load on first use", metadata: ["error": "\(error)"])
        }
    }

    private func record() async {
        do {
            try await store.recordRecentKeys(upToBytes: budget, limit: Self.listLimit)
        } catch {
            logger.debug("could not record recently used keys", metadata: ["error": "\(error)"])
        }
    }
}

