import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DejaRedis

let clusterSeeds = ProcessInfo.processInfo.environment["DEJA_REDIS_CLUSTER"]
/// The failover test kills a primary; it runs only when asked, so it never disturbs other suites running in parallel.
let failoverEnabled = clusterSeeds != nil && ProcessInfo.processInfo.environment["DEJA_REDIS_FAILOVER"] != nil

/// Against the real 6-node cluster started by `scripts/redis.sh start`.
@Suite("Redis Cluster", .enabled(if: clusterSeeds != nil), .serialized)
struct RedisClusterIntegrationTests {
    func client() throws -> RedisClusterClient {
        RedisClusterClient(configuration: try RedisClusterConfiguration(seedList: clusterSeeds!))
    }

    func admin(_ address: RedisAddress) -> RedisClient {
        RedisClient(configuration: .init(address: address, poolSize: 1))
    }

    func nodeID(_ address: RedisAddress) async throws -> String {
        let admin = admin(address)
        defer { Task { await admin.shutdown() } }
        return try await admin.execute(RawCommand(["CLUSTER", "MYID"])).string()
    }

    @Test("many keys across all slots are routed to their primaries")
    func routingManyKeys() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let keys = (0..<300).map { RedisKey("deja-test:route:\($0):\(UUID().uuidString)") }
        for (index, key) in keys.enumerated() {
            #expect(try await client.execute(SET(key, value: ByteBuffer(string: "\(index)"), milliseconds: 60_000)))
        }
        let topology = try #require(client.topology)
        #expect(topology.shards.count == 3)
        #expect(topology.coversAllSlots)
        #expect(Set(keys.map { topology.primary(for: $0.hashSlot)! }).count == 3)
        for (index, key) in keys.enumerated() {
            #expect(try await client.execute(GET(key)) == ByteBuffer(string: "\(index)"))
        }
        let groups = try await client.executeGroupedBySlot(keys: keys) { MGET($0) }
        var count = 0
        for group in groups {
            for (key, value) in zip(group.keys, group.response) {
                #expect(value == ByteBuffer(string: "\(keys.firstIndex(of: key)!)"))
                count += 1
            }
        }
        #expect(count == 300)
        let deleted = try await client.executeGroupedBySlot(keys: keys) { DEL($0) }
        #expect(deleted.map(\.response).reduce(0, +) == 300)
    }

    @Test("executeNow sends a key's command to its slot's primary on a connection of the caller's loop")
    func executeNowRoutesBySlot() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let keys = (0..<60).map { RedisKey("deja-test:now:\($0):\(UUID().uuidString)") }
        #expect(client.executeNow(GET(keys[0]), on: nil) == nil, "no slot map yet: asked the usual way")
        for (index, key) in keys.enumerated() {  // reads the slot map, opens the nodes' connections
            #expect(try await client.execute(SET(key, value: ByteBuffer(string: "\(index)"), milliseconds: 60_000)))
        }
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let replies = try await loop.submit { keys.map { client.executeNow(GET($0), on: loop) } }.get()
        for (index, reply) in replies.enumerated() {
            let reply = try #require(reply, "key \(index) was not sent at once")
            #expect(reply.eventLoop === loop)
            #expect(try await reply.get() == ByteBuffer(string: "\(index)"))
        }
        #expect(client.executeNow(DEL([RedisKey("{a}now"), RedisKey("{b}now")]), on: loop) == nil, "keys in two slots are not sent at once")
        _ = try await client.executeGroupedBySlot(keys: keys) { DEL($0) }
    }

    @Test("a slot moved with CLUSTER SETSLOT: ASK while migrating, MOVED afterwards")
    func reshardingAskAndMoved() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let tag = UUID().uuidString
        let key = RedisKey("deja-test:{\(tag)}:a")
        let fresh = RedisKey("deja-test:{\(tag)}:b")
        let slot = key.hashSlot
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "before"), milliseconds: 60_000)))
        let topology = try #require(client.topology)
        let source = topology.primary(for: slot)!
        let target = topology.primaries.first { $0 != source }!
        let sourceID = try await nodeID(source)
        let targetID = try await nodeID(target)
        let sourceAdmin = admin(source)
        let targetAdmin = admin(target)
        defer { Task { await sourceAdmin.shutdown(); await targetAdmin.shutdown() } }
        let slotArgument = RESPArgument.integer(Int64(slot.rawValue))

        _ = try await targetAdmin.execute(RawCommand(["CLUSTER", "SETSLOT", slotArgument, "IMPORTING", .string(sourceID)]))
        _ = try await sourceAdmin.execute(RawCommand(["CLUSTER", "SETSLOT", slotArgument, "MIGRATING", .string(targetID)]))
        // A key the source does not have is answered with ASK; the client follows with ASKING.
        #expect(try await client.execute(SET(fresh, value: ByteBuffer(string: "new"), milliseconds: 60_000)))
        #expect(try await targetAdmin.execute(RawCommand(["ASKING"])).string() == "OK")
        _ = try await sourceAdmin.execute(RawCommand([
            "MIGRATE", .string(target.host), .integer(Int64(target.port)), "", "0", "5000", "KEYS", .key(key),
        ]))
        #expect(try await client.execute(GET(key)) == ByteBuffer(string: "before"))  // ASK again
        #expect(client.topology?.primary(for: slot) == source)
        for primary in topology.primaries {
            let admin = admin(primary)
            _ = try await admin.execute(RawCommand(["CLUSTER", "SETSLOT", slotArgument, "NODE", .string(targetID)]))
            await admin.shutdown()
        }
        // Now the source answers MOVED; the client updates its map.
        #expect(try await client.execute(GET(fresh)) == ByteBuffer(string: "new"))
        #expect(client.topology?.primary(for: slot) == target)
        #expect(try await client.execute(GET(key)) == ByteBuffer(string: "before"))

        // Put the slot back where it was.
        #expect(try await client.execute(DEL([key, fresh])) == 2)
        for primary in [target] + topology.primaries.filter({ $0 != target }) {
            let admin = admin(primary)
            _ = try await admin.execute(RawCommand(["CLUSTER", "SETSLOT", slotArgument, "NODE", .string(sourceID)]))
            await admin.shutdown()
        }
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "back"), milliseconds: 60_000)))
        #expect(client.topology?.primary(for: slot) == source)
        _ = try await client.execute(DEL([key]))
    }

    @Test("pub/sub on a cluster")
    func publishSubscribe() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let channel = "deja-test:c:\(UUID().uuidString)"
        let subscription = try await client.subscribe(to: [channel])
        // Published through whichever node the client picks; classic pub/sub reaches every node.
        _ = try await client.execute(PUBLISH(channel: channel, message: ByteBuffer(string: "hi")))
        for try await message in subscription {
            #expect(message.payload == ByteBuffer(string: "hi"))
            break
        }
    }

    @Test("after a primary dies, the same client follows its promoted replica", .enabled(if: failoverEnabled))
    func failover() async throws {
        let client = try client()
        defer { Task { await client.shutdown() } }
        let key = RedisKey("deja-test:failover:\(UUID().uuidString)")
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "survives"), milliseconds: 600_000)))
        let victim = try #require(client.topology?.primary(for: key.hashSlot))
        // Let the write reach the replica before the primary goes.
        let victimAdmin = admin(victim)
        _ = try await victimAdmin.execute(RawCommand(["WAIT", "1", "2000"]))
        _ = try? await victimAdmin.execute(RawCommand(["SHUTDOWN", "NOSAVE"]))
        await victimAdmin.shutdown()

        var value: ByteBuffer?
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(30) {
            if let read = try? await client.execute(GET(key)) {
                value = read
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(value == ByteBuffer(string: "survives"))
        let promoted = try #require(client.topology?.primary(for: key.hashSlot))
        #expect(promoted != victim)
        #expect(try await client.execute(SET(key, value: ByteBuffer(string: "after"), milliseconds: 60_000)))
        #expect(try await client.execute(GET(key)) == ByteBuffer(string: "after"))

        // Restore: restart the old primary (it rejoins as a replica) and hand it its role back.
        let directory = ProcessInfo.processInfo.environment["DEJA_REDIS_DIR"] ?? "/tmp/deja-redis"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-server", "\(directory)/cluster-\(victim.port)/redis.conf"]
        try process.run()
        // redis-server daemonizes, so the launcher exits at once; poll rather than block a thread.
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        let restarted = admin(victim)
        defer { Task { await restarted.shutdown() } }
        var isReplica = false
        for _ in 0..<100 {
            if let role = try? await restarted.execute(RawCommand(["ROLE"])).array().first?.string(), role == "slave" {
                if let info = try? await restarted.execute(INFO("replication")),
                   INFO.fields(info)["master_link_status"] == "up" {
                    isReplica = true
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(isReplica)
        _ = try await restarted.execute(RawCommand(["CLUSTER", "FAILOVER"]))
        for _ in 0..<100 {
            if (try? await restarted.execute(RawCommand(["ROLE"])).array().first?.string()) == "master" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        // The client follows the role change back.
        var restored = false
        for _ in 0..<100 {
            if (try? await client.execute(GET(key))) == ByteBuffer(string: "after"),
               client.topology?.primary(for: key.hashSlot) == victim {
                restored = true
                break
            }
            try? await client.refreshTopology()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(restored)
        _ = try await client.execute(DEL([key]))
    }
}
