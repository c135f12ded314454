import Foundation
import NIOCore
import Testing

@testable import DejaRedis

let tlsURL = ProcessInfo.processInfo.environment["DEJA_REDIS_TLS_URL"]

/// Against a TLS-only server with a private CA, started by `scripts/redis.sh start`
/// (`rediss://localhost:16390?ca=…/ca.crt`).
@Suite("Redis over TLS", .enabled(if: tlsURL != nil), .serialized)
struct RedisTLSIntegrationTests {
    @Test func commandsAndPipelinesRunOverTLS() async throws {
        let client = RedisClient(configuration: try RedisClientConfiguration(url: tlsURL!))
        defer { Task { await client.shutdown() } }
        let key = RedisKey("deja-test:tls:\(UUID().uuidString)")
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "over tls"), milliseconds: 10_000)))
        #expect(try await client.execute(GET(key)) == ByteBuffer(string: "over tls"))
        let results = await client.pipeline((0..<50).map { _ in GET(key) })
        #expect(results.allSatisfy { (try? $0.get().string()) == "over tls" })
        #expect(try await client.execute(DEL([key])) == 1)
    }

    @Test func aServerCertificateNotSignedByATrustedCAIsRefused() async throws {
        // The same server, trusting the system's roots only: the private CA is unknown, so no command runs.
        let untrusted = tlsURL!.components(separatedBy: "?").first!
        var configuration = try RedisClientConfiguration(url: untrusted)
        configuration.connection.commandTimeout = .seconds(3)
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        let error = await #expect(throws: RedisError.self) { try await client.execute(GET(RedisKey("deja-test:tls:never"))) }
        #expect([.connectionFailed, .connectionClosed, .unavailable, .timeout].contains(error?.code), "\(String(describing: error))")
    }

    @Test func aPlainConnectionToTheTLSPortGetsNoAnswer() async throws {
        let plain = tlsURL!.replacingOccurrences(of: "rediss://", with: "redis://").components(separatedBy: "?").first!
        var configuration = try RedisClientConfiguration(url: plain)
        configuration.connection.commandTimeout = .seconds(2)
        let client = RedisClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        await #expect(throws: RedisError.self) { try await client.execute(GET(RedisKey("deja-test:tls:never"))) }
    }

    @Test func aCAFileThatIsNotPEMIsAConfigurationError() {
        let error = #expect(throws: RedisError.self) { try RedisClientConfiguration(url: "rediss://localhost:16390?ca=/etc/hostname") }
        #expect(error?.code == .invalidConfiguration)
        #expect(throws: RedisError.self) { try RedisClientConfiguration(url: "redis://localhost:16390?ca=/tmp/ca.pem") }
    }
}
