import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DejaRedis

let standaloneURL = ProcessInfo.processInfo.environment["DEJA_REDIS_URL"]

/// Against a real server started by `scripts/redis.sh start`.
@Suite("Standalone Redis", .enabled(if: standaloneURL != nil), .serialized)
struct RedisIntegrationTests {
    func client(poolSize: Int = 2) throws -> RedisClient {
        var configuration = try RedisClientConfiguration(url: standaloneURL!)
        configuration.poolSize = poolSize
        return RedisClient(configuration: configuration)
    }

    func unique(_ name: String) -> RedisKey { RedisKey("deja-test:\(name):\(UUID().uuidString)") }

    @Test func setGetWithExpiryAndNX() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let key = unique("px")
        #expect(try await client.execute(GET(key)) == nil)
        let set = ContinuousClock.now
        #expect(try await client.execute(SET(key, value: ByteBuffer(bytes: [0, 1, 13, 10, 255]), milliseconds: 5_000)))
        #expect(try await client.execute(GET(key)) == ByteBuffer(bytes: [0, 1, 13, 10, 255]))
        let ttl = try await client.execute(PTTL(key))
        let elapsed = Int((ContinuousClock.now - set) / .milliseconds(1))
        #expect(ttl >= 4_998 - elapsed && ttl <= 5_000)  // whole milliseconds on both clocks
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "other"), condition: .ifNotExists)) == false)
        #expect(try await client.execute(GET(key)) == ByteBuffer(bytes: [0, 1, 13, 10, 255]))
        let short = unique("short")
        #expect(try await client.execute(SET(short, value: ByteBuffer(string: "x"), milliseconds: 50)))
        try await Task.sleep(for: .milliseconds(150))
        #expect(try await client.execute(GET(short)) == nil)
        #expect(try await client.execute(DEL([key, short])) == 1)
    }

    @Test func pipelineOfManyCommands() async throws {
        let client = try client(poolSize: 1)
        defer { Task { await client.shutdown() } }
        let keys = (0..<200).map { unique("pipe\($0)") }
        let sets: [any RedisCommand] = keys.enumerated().map { SET($0.element, value: ByteBuffer(string: "\($0.offset)"), milliseconds: 60_000) }
        let setResults = await client.pipeline(sets)
        #expect(setResults.count == 200)
        #expect(setResults.allSatisfy { (try? $0.get()) != nil })
        let results = await client.pipeline(keys.map { GET($0) } + [RawCommand(["NOT-A-COMMAND"])])
        for (index, result) in results.prefix(200).enumerated() {
            #expect(try result.get().string() == "\(index)")
        }
        guard case .failure(let error) = results[200] else {
            Issue.record("the unknown command did not fail")
            return
        }
        #expect(error.serverErrorPrefix == "ERR")
        #expect(try await client.execute(DEL(keys)) == 200)
    }

    @Test func manyConcurrentCommandsOnAFewConnections() async throws {
        let client = try client(poolSize: 2)
        defer { Task { await client.shutdown() } }
        let key = unique("concurrent")
        _ = try await client.execute(SET(key, value: ByteBuffer(string: "v"), milliseconds: 60_000))
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            for _ in 0..<500 { group.addTask { try await client.execute(GET(key)) } }
            for try await value in group { #expect(value == ByteBuffer(string: "v")) }
        }
    }

    @Test("executeNow on an event loop uses a connection of that loop, and the commands of one loop iteration, flushed together, each get their own reply")
    func executeNowStaysOnTheCallersLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = try RedisClientConfiguration(url: standaloneURL!)
        configuration.poolSize = 4
        let client = RedisClient(configuration: configuration, eventLoopGroup: group)
        defer { Task { await client.shutdown(); try? await group.shutdownGracefully() } }
        let keys = (0..<40).map { unique("now\($0)") }
        for (index, key) in keys.enumerated() {  // round-robin: every slot of the pool connects
            _ = try await client.execute(SET(key, value: ByteBuffer(string: "value \(index)"), milliseconds: 60_000))
        }
        for loop in group.makeIterator() {
            // All asked for inside one task on `loop`: written as they come, flushed once when it ends.
            let replies = try await loop.submit { keys.map { client.executeNow(GET($0), on: loop) } }.get()
            #expect(replies.allSatisfy { $0 != nil })
            for (index, reply) in replies.enumerated() {
                guard let reply else { continue }
                #expect(reply.eventLoop === loop, "reply \(index) completes on another loop")
                #expect(try await reply.get() == ByteBuffer(string: "value \(index)"))
            }
        }
        _ = try await client.execute(DEL(keys))
    }

    @Test("every RESP3 type from the real server (DEBUG PROTOCOL)")
    func resp3Types() async throws {
        let client = try client(poolSize: 1)
        defer { Task { await client.shutdown() } }
        func debug(_ type: String) async throws -> RESPToken {
            try await client.execute(RawCommand(["DEBUG", "PROTOCOL", .string(type)]))
        }
        #expect(try await debug("string").type == .bulkString)
        #expect(try await debug("integer").value == .integer(12345))
        #expect(try await debug("double").value == .double(3.141))
        #expect(try await debug("bignum").value == .bigNumber(ByteBuffer(string: "1234567999999999999999999999999999999")))
        #expect(try await debug("null").value == .null)
        #expect(try await debug("true").value == .boolean(true))
        #expect(try await debug("false").value == .boolean(false))
        #expect(try await debug("map").type == .map)
        #expect(try await debug("set").type == .set)
        #expect(try await debug("array").type == .array)
        guard case .verbatimString(let format, _) = try await debug("verbatim").value else {
            Issue.record("not a verbatim string")
            return
        }
        #expect(format == "txt")
        // The attribute is skipped; the reply that follows it is what the command gets.
        #expect(try await debug("attrib").string() == "Some real reply following the attribute")
        // A push arrives out of band, then the command's own reply.
        #expect(try await debug("push").type != .push)
    }

    @Test func publishAndSubscribe() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let channel = "deja-test:chan:\(UUID().uuidString)"
        let subscription = try await client.subscribe(to: [channel])
        #expect(try await client.execute(PUBLISH(channel: channel, message: ByteBuffer(string: "one"))) == 1)
        #expect(try await client.execute(PUBLISH(channel: channel, message: ByteBuffer(string: "two"))) == 1)
        var received: [String] = []
        for try await message in subscription {
            #expect(message.channel == channel)
            received.append(String(buffer: message.payload))
            if received.count == 2 { break }
        }
        #expect(received == ["one", "two"])
    }

    @Test("after CLIENT KILL the client reconnects by itself")
    func reconnectAfterKill() async throws {
        let client = try client(poolSize: 1)
        let admin = try self.client(poolSize: 1)
        defer { Task { await client.shutdown(); await admin.shutdown() } }
        let firstID = try await client.execute(RawCommand(["CLIENT", "ID"])).integer()
        _ = try await admin.execute(RawCommand(["CLIENT", "KILL", "ID", .integer(firstID)]))
        var secondID: Int64?
        for _ in 0..<50 {
            if let id = try? await client.execute(RawCommand(["CLIENT", "ID"], isReadOnly: true)).integer() {
                secondID = id
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(secondID != nil)
        #expect(secondID != firstID)
        #expect(try await client.execute(PING()) == "PONG")
    }

    @Test("ACL user and password, and SELECT, from the URL")
    func aclUserAndDatabase() async throws {
        let admin = try client(poolSize: 1)
        defer { Task { await admin.shutdown() } }
        let user = "deja-test-\(UInt32.random(in: 0...UInt32.max))"
        _ = try await admin.execute(RawCommand(["ACL", "SETUSER", .string(user), "on", ">s3cret", "~*", "&*", "+@all"]))
        let base = URL(string: standaloneURL!)!
        let authed = RedisClient(configuration: try RedisClientConfiguration(url: "redis://\(user):s3cret@\(base.host!):\(base.port!)/5"))
        let key = unique("db5")
        #expect(try await authed.execute(SET(key, value: ByteBuffer(string: "in five"), milliseconds: 60_000)))
        #expect(try await authed.execute(RawCommand(["ACL", "WHOAMI"])).string() == user)
        #expect(try await admin.execute(GET(key)) == nil)  // admin is on database 0
        await authed.shutdown()

        let wrong = RedisClient(configuration: try RedisClientConfiguration(url: "redis://\(user):nope@\(base.host!):\(base.port!)"))
        let error = await #expect(throws: RedisError.self) { try await wrong.execute(PING()) }
        #expect(error?.code == .connectionFailed)
        #expect(error.map { !$0.description.contains("nope") } ?? false)
        // Failed attempts back off: the next command fails fast without connecting.
        let fast = await #expect(throws: RedisError.self) { try await wrong.execute(PING()) }
        #expect(fast?.code == .unavailable)
        await wrong.shutdown()
        _ = try await admin.execute(RawCommand(["ACL", "DELUSER", .string(user)]))
    }

    @Test func connectionRefusedFailsFast() async throws {
        let client = RedisClient(configuration: .init(address: RedisAddress(host: "127.0.0.1", port: 1)))
        let error = await #expect(throws: RedisError.self) { try await client.execute(PING()) }
        #expect(error?.code == .connectionFailed)
        await client.shutdown()
        let after = await #expect(throws: RedisError.self) { try await client.execute(PING()) }
        #expect(after?.code == .unavailable)
    }
}
