import DejaCache
import DejaCore
import Foundation
import Logging

/// Reads what a gateway stored for a request, as an operator holding the request and the seal secrets
/// can (`deja explain --stored`): the memory tier is another process's, so only the persistent tier
/// (SQLite file or Redis) is read, and only entries whose request is given open.
public struct StoredAnswerReader: Sendable {
    let configuration: DejaConfiguration
    let logger: Logger

    public init(configuration: DejaConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs `body` with `reader`'s lookup, or with none when `reader` is `nil`.
    public static func withOptionalLookup<T: Sendable>(
        _ reader: StoredAnswerReader?,
        _ body: @Sendable (_ lookup: (@Sendable (CanonicalRequest) async throws -> CacheEntry?)?) async throws -> T
    ) async throws -> T {
        guard let reader else { return try await body(nil) }
        return try await reader.withLookup { lookup in try await body(lookup) }
    }

    /// Runs `body` with a lookup into the configured persistent cache; the lookup answers `nil` when
    /// nothing is stored, it does not open, or the cache is memory only.
    public func withLookup<T: Sendable>(
        _ body: @Sendable (_ lookup: @escaping @Sendable (CanonicalRequest) async throws -> CacheEntry?) async throws -> T
    ) async throws -> T {
        guard let secrets = try StorageFolder.sealSecrets(configuration: configuration, create: false, logger: logger) else {
            return try await body { _ in nil }  // nothing was ever sealed here
        }
        let sealer = EntrySealer(secrets: secrets)
        if let url = configuration.storage.cache {
            let client = try DejaComponents.redisClient(url: url, logger: logger)
            let store = RedisStore(redis: client, sealer: sealer, logger: logger)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                return try await body { request in try await store.get(request.key, sealing: request.sealing) }
            }
        }
        let path = configuration.storage.path + "/cache.sqlite"
        guard configuration.storage.persistent, FileManager.default.fileExists(atPath: path) else { return try await body { _ in nil } }
        let store = try await SQLiteStore.open(path: path, sealer: sealer, logger: logger)
        do {
            let result = try await body { request in try await store.get(request.key, sealing: request.sealing) }
            try await store.close()
            return result
        } catch {
            try? await store.close()
            throw error
        }
    }
}
