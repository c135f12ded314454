import DejaCache
import DejaCore
import Foundation
import NIOCore

/// Helpers shared by the cache tests.
enum Fixture {
    /// A deterministic key from a small number.
    static func key(_ n: Int) -> CacheKey {
        var bytes = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes(of: UInt64(n).bigEndian) { bytes.replaceSubrange(24..<32, with: $0) }
        bytes[0] = 0xAB
        return CacheKey(bytes: bytes)!
    }

    /// An entry with a body of `size` bytes, fresh for `ttl` seconds from `now` and retained `extra` more.
    static func entry(
        size: Int = 16,
        now: Double = 1_800_000_000,
        ttl: Double = 60,
        extra: Double = 0,
        fill: UInt8 = 0x41
    ) -> CacheEntry {
        CacheEntry(
            body: ByteBuffer(repeating: fill, count: size),
            modelVersion: "v1",
            meteredTokens: 7,
            upstreamSeconds: 0.25,
            createdAt: now,
            expiresAt: now + ttl,
            retainUntil: now + ttl + extra
        )
    }

    /// A fresh temporary directory, removed by `cleanup`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("deja-cache-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanup(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }

    /// Runs `body` with a cache file path in a fresh temporary directory, removed afterwards.
    static func withCacheFile(_ body: (String) async throws -> Void) async throws {
        let directory = try temporaryDirectory()
        defer { cleanup(directory) }
        try await body(directory.appendingPathComponent("cache.sqlite").path)
    }
}

extension EntrySealer {
    /// The secrets text of ``testing``.
    static let testingSecrets = SealSecrets.generate(id: "test")
    /// A sealer with one random secret, for tests.
    static let testing = EntrySealer(secrets: try! SealSecrets(parsing: testingSecrets))
}

extension SealingDigest {
    /// The sealing digest the store tests seal and open with.
    static let testing = SealingDigest(Fixture.key(0xD16E57))
}
