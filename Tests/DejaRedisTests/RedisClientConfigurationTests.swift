import Testing

@testable import DejaRedis

@Suite("Configuration")
struct RedisClientConfigurationTests {
    @Test func plainURL() throws {
        let configuration = try RedisClientConfiguration(url: "redis://127.0.0.1:16379")
        #expect(configuration.address == RedisAddress(host: "127.0.0.1", port: 16379))
        #expect(configuration.connection.authentication == nil)
        #expect(configuration.connection.database == 0)
        #expect(configuration.connection.tls == nil)
    }

    @Test func userPasswordDatabaseAndTLS() throws {
        let configuration = try RedisClientConfiguration(url: "rediss://app:p%40ss@cache.internal/4")
        #expect(configuration.address == RedisAddress(host: "cache.internal", port: 6379))
        #expect(configuration.connection.authentication == .init(username: "app", password: "p@ss"))
        #expect(configuration.connection.database == 4)
        #expect(configuration.connection.tls != nil)
    }

    @Test func passwordOnly() throws {
        let configuration = try RedisClientConfiguration(url: "redis://:secret@h:1")
        #expect(configuration.connection.authentication == .init(username: nil, password: "secret"))
    }

    @Test("bad URLs are refused without echoing them", arguments: [
        "http://h:1", "redis://", "redis://h:1/x", "redis://u:topsecret@h:1/-1", "nonsense",
    ])
    func badURLs(_ url: String) {
        let error = #expect(throws: RedisError.self) { try RedisClientConfiguration(url: url) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error.map { !$0.description.contains("topsecret") } ?? false)
    }

    @Test func seedList() throws {
        let configuration = try RedisClusterConfiguration(seedList: "127.0.0.1:17000, 127.0.0.1:17001,[::1]:7000")
        #expect(configuration.seeds == [
            RedisAddress(host: "127.0.0.1", port: 17000), RedisAddress(host: "127.0.0.1", port: 17001),
            RedisAddress(host: "::1", port: 7000),
        ])
        #expect(throws: RedisError.self) { try RedisClusterConfiguration(seedList: "nohost") }
        #expect(throws: RedisError.self) { try RedisClusterConfiguration(seedList: "") }
    }

    @Test func backoffGrowsWithJitterAndIsCapped() {
        let backoff = Backoff(base: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.delay(attempt: 0, random: 0) == .milliseconds(50))
        #expect(backoff.delay(attempt: 0, random: 1) == .milliseconds(100))
        #expect(backoff.delay(attempt: 2, random: 1) == .milliseconds(400))
        #expect(backoff.delay(attempt: 10, random: 1) == .seconds(1))
        #expect(backoff.delay(attempt: 10, random: 0) == .milliseconds(500))
        for attempt in 0..<8 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .milliseconds(50) && delay <= .seconds(1))
        }
    }
}
