import NIOCore
import Testing

@testable import DejaRedis

@Suite("Cluster client with fake nodes")
struct RedisClusterClientTests {
    let cluster = FakeCluster(ports: [7000, 7001, 7002])
    let clock = ManualRedisClock()

    func makeClient(_ stateMachine: RedisClusterStateMachine.Configuration = .init()) -> RedisClusterClient {
        let cluster = self.cluster
        return RedisClusterClient(
            configuration: .init(seeds: [RedisAddress(host: "127.0.0.1", port: 7001)], stateMachine: stateMachine),
            clock: clock
        ) { cluster.node($0) }
    }

    /// A key whose slot is owned by `port` in the initial layout.
    func key(ownedBy port: Int, _ n: Int = 0) -> String {
        var i = n
        while true {
            let key = "key-\(i)"
            if cluster.owner(of: Int(HashSlot(key: key).rawValue)) == port { return key }
            i += 1
        }
    }

    @Test("commands go straight to the slot's primary after one topology read")
    func routing() async throws {
        let client = makeClient()
        for i in 0..<60 {
            #expect(try await client.execute(SET(RedisKey("k\(i)"), value: ByteBuffer(string: "v\(i)"))))
        }
        for i in 0..<60 {
            #expect(try await client.execute(GET(RedisKey("k\(i)"))) == ByteBuffer(string: "v\(i)"))
        }
        let log = cluster.log
        #expect(log.filter { $0.words.first == "CLUSTER" }.count == 1)
        for entry in log where entry.words.first == "GET" || entry.words.first == "SET" {
            #expect(cluster.owner(of: Int(HashSlot(key: entry.words[1]).rawValue)) == entry.port)
        }
        #expect(Set(log.map(\.port)) == [7000, 7001, 7002])
        #expect(clock.sleeps.isEmpty)
    }

    @Test("MOVED: retried on the new owner, and the map is updated for later commands")
    func moved() async throws {
        let client = makeClient()
        let key = key(ownedBy: 7000)
        _ = try await client.execute(SET(RedisKey(key), value: ByteBuffer(string: "x")))
        let slot = Int(HashSlot(key: key).rawValue)
        cluster.move(slot: slot, to: 7002)
        cluster.state.withLock { $0.data[key] = "moved" }
        #expect(try await client.execute(GET(RedisKey(key))) == ByteBuffer(string: "moved"))
        let before = cluster.log.count
        #expect(try await client.execute(GET(RedisKey(key))) == ByteBuffer(string: "moved"))
        let after = Array(cluster.log[before...])
        #expect(after.count == 1)
        #expect(after.first?.port == 7002)
        #expect(client.topology?.primary(for: HashSlot(rawValue: slot)!) == RedisAddress(host: "127.0.0.1", port: 7002))
        #expect(clock.sleeps.isEmpty)
    }

    @Test("ASK: sends ASKING to the importing node, without changing the map")
    func ask() async throws {
        let client = makeClient()
        let key = key(ownedBy: 7000)
        let slot = Int(HashSlot(key: key).rawValue)
        _ = try await client.execute(GET(RedisKey(key)))
        cluster.state.withLock {
            $0.importing[slot] = 7001
            $0.data[key] = "importing"
        }
        #expect(try await client.execute(GET(RedisKey(key))) == ByteBuffer(string: "importing"))
        let gets = cluster.log.filter { $0.words.first == "GET" }.suffix(2)
        #expect(gets.map(\.port) == [7000, 7001])
        #expect(gets.map(\.asking) == [false, true])
        #expect(client.topology?.primary(for: HashSlot(rawValue: slot)!) == RedisAddress(host: "127.0.0.1", port: 7000))
    }

    @Test("TRYAGAIN and LOADING are retried with jittered backoff on the injected clock")
    func tryAgain() async throws {
        let client = makeClient(.init(retryBackoff: .init(base: .milliseconds(100), maximum: .seconds(1))))
        let key = key(ownedBy: 7001)
        _ = try await client.execute(GET(RedisKey(key)))
        cluster.script(7001, ["-TRYAGAIN Multiple keys request during rehashing of slot\r\n", "-LOADING Redis is loading\r\n"])
        cluster.state.withLock { $0.data[key] = "ok" }
        #expect(try await client.execute(GET(RedisKey(key))) == ByteBuffer(string: "ok"))
        let sleeps = clock.sleeps
        #expect(sleeps.count == 2)
        #expect(sleeps[0] >= .milliseconds(50) && sleeps[0] <= .milliseconds(100))
        #expect(sleeps[1] >= .milliseconds(100) && sleeps[1] <= .milliseconds(200))
    }

    @Test("redirect loops stop at the redirect cap")
    func redirectCap() async throws {
        let client = makeClient(.init(maxRedirects: 3))
        let key = key(ownedBy: 7000)
        let slot = Int(HashSlot(key: key).rawValue)
        _ = try await client.execute(GET(RedisKey(key)))
        cluster.script(7000, Array(repeating: "-MOVED \(slot) 127.0.0.1:7001\r\n", count: 10))
        cluster.script(7001, Array(repeating: "-MOVED \(slot) 127.0.0.1:7000\r\n", count: 10))
        let error = await #expect(throws: RedisError.self) { try await client.execute(GET(RedisKey(key))) }
        #expect(error?.code == .tooManyRedirects)
        #expect(cluster.log.filter { $0.words.first == "GET" }.count == 1 + 4)
    }

    @Test("CLUSTERDOWN that never clears gives up after the retry budget, refreshing the topology")
    func clusterDown() async throws {
        let client = makeClient(.init(maxRetries: 3, minimumRefreshInterval: .zero))
        let key = key(ownedBy: 7002)
        _ = try await client.execute(GET(RedisKey(key)))
        cluster.script(7002, Array(repeating: "-CLUSTERDOWN The cluster is down\r\n", count: 10))
        let error = await #expect(throws: RedisError.self) { try await client.execute(GET(RedisKey(key))) }
        #expect(error?.code == .clusterUnavailable)
        #expect(error?.underlying is RedisError)
        #expect(clock.sleeps.count == 3)
        #expect(cluster.log.filter { $0.words.first == "CLUSTER" }.count >= 2)
    }

    @Test("a node that dies is left for the new topology (failover)")
    func failover() async throws {
        let client = makeClient(.init(minimumRefreshInterval: .zero))
        let key = key(ownedBy: 7000)
        _ = try await client.execute(SET(RedisKey(key), value: ByteBuffer(string: "v")))
        // 7000 dies; its replica 7003 takes over every slot 7000 had.
        let slots = cluster.state.withLock { state in state.owners.filter { $0.value == 7000 }.map(\.key) }
        cluster.state.withLock { state in
            for range in slots { state.owners[range] = 7003 }
        }
        cluster.script(7000, Array(repeating: "", count: 100))
        #expect(try await client.execute(GET(RedisKey(key))) == ByteBuffer(string: "v"))
        #expect(client.topology?.primary(for: HashSlot(key: key)) == RedisAddress(host: "127.0.0.1", port: 7003))
        #expect(clock.sleeps.count == 1)
    }

    @Test("multi-key work is grouped by slot: no CROSSSLOT")
    func groupedBySlot() async throws {
        let client = makeClient()
        let keys = (0..<50).map { RedisKey("multi-\($0)") }
        for (index, key) in keys.enumerated() {
            _ = try await client.execute(SET(key, value: ByteBuffer(string: "\(index)")))
        }
        let groups = try await client.executeGroupedBySlot(keys: keys) { MGET($0) }
        #expect(groups.map(\.keys.count).reduce(0, +) == 50)
        var values: [RedisKey: ByteBuffer?] = [:]
        for group in groups {
            #expect(Set(group.keys.map(\.hashSlot)).count == 1)
            for (key, value) in zip(group.keys, group.response) { values[key] = value }
        }
        for (index, key) in keys.enumerated() { #expect(values[key] == ByteBuffer(string: "\(index)")) }
        #expect(!cluster.log.contains { $0.words.first == "MGET" && $0.words.count > 2 && Set($0.words.dropFirst().map { HashSlot(key: $0) }).count > 1 })
        let error = await #expect(throws: RedisError.self) { try await client.execute(MGET(keys)) }
        #expect(error?.code == .crossSlot)
    }

    @Test func fallsBackToClusterSlots() async throws {
        cluster.state.withLock { $0.shardsSupported = false }
        let client = makeClient()
        _ = try await client.execute(SET("a", value: ByteBuffer(string: "1")))
        #expect(client.topology?.shards.count == 3)
        #expect(cluster.log.contains { $0.words == ["CLUSTER", "SLOTS"] })
    }

    @Test func unreachableSeedsFailWithClusterUnavailable() async throws {
        cluster.script(7001, Array(repeating: "", count: 100))
        let client = makeClient(.init(maxRetries: 2))
        let error = await #expect(throws: RedisError.self) { try await client.execute(GET("a")) }
        #expect(error?.code == .clusterUnavailable)
    }
}

@Suite("Cluster state machine")
struct RedisClusterStateMachineTests {
    let a = RedisAddress(host: "10.0.0.1", port: 6379)
    let b = RedisAddress(host: "10.0.0.2", port: 6379)

    func ready() -> RedisClusterStateMachine {
        var machine = RedisClusterStateMachine(configuration: .init(refreshInterval: .seconds(30), minimumRefreshInterval: .seconds(1)))
        machine.topologyRefreshed(ClusterTopology(shards: [.init(slots: [0...8191], primary: a), .init(slots: [8192...16383], primary: b)]), now: .seconds(10))
        return machine
    }

    @Test func routesBySlotAndAsksForATopologyFirst() {
        var empty = RedisClusterStateMachine()
        var attempt = RedisClusterStateMachine.Attempt()
        #expect(empty.route(slot: HashSlot(rawValue: 5), attempt: &attempt) == .refreshTopology)
        var machine = ready()
        #expect(machine.route(slot: HashSlot(rawValue: 5), attempt: &attempt) == .send(a, asking: false))
        #expect(machine.route(slot: HashSlot(rawValue: 9000), attempt: &attempt) == .send(b, asking: false))
    }

    @Test func movedUpdatesOneSlotAndWantsARefresh() {
        var machine = ready()
        var attempt = RedisClusterStateMachine.Attempt()
        let slot = HashSlot(rawValue: 100)!
        guard case .retryNow = machine.handle(.server("MOVED 100 10.0.0.2:6379"), slot: slot, attempt: &attempt, random: 0.5) else {
            Issue.record("MOVED is not retried at once")
            return
        }
        #expect(machine.route(slot: slot, attempt: &attempt) == .send(b, asking: false))
        #expect(machine.route(slot: HashSlot(rawValue: 101), attempt: &attempt) == .send(a, asking: false))
        #expect(!machine.refreshDue(now: .seconds(10.5)))
        #expect(machine.refreshDue(now: .seconds(11)))
    }

    @Test func askSendsOnceWithAsking() {
        var machine = ready()
        var attempt = RedisClusterStateMachine.Attempt()
        let slot = HashSlot(rawValue: 100)!
        _ = machine.handle(.server("ASK 100 10.0.0.2:6379"), slot: slot, attempt: &attempt, random: 0.5)
        #expect(machine.route(slot: slot, attempt: &attempt) == .send(b, asking: true))
        #expect(machine.route(slot: slot, attempt: &attempt) == .send(a, asking: false))
        #expect(!machine.refreshDue(now: .seconds(12)))
    }

    @Test func periodicRefresh() {
        let machine = ready()
        #expect(!machine.refreshDue(now: .seconds(39)))
        #expect(machine.refreshDue(now: .seconds(40)))
    }

    @Test func otherServerErrorsAreNotRetried() {
        var machine = ready()
        var attempt = RedisClusterStateMachine.Attempt()
        guard case .fail(let error) = machine.handle(.server("WRONGTYPE Operation"), slot: nil, attempt: &attempt, random: 0) else {
            Issue.record("WRONGTYPE was retried")
            return
        }
        #expect(error.serverErrorPrefix == "WRONGTYPE")
    }
}
