import NIOCore
import Synchronization

@testable import DejaRedis

/// A clock that never sleeps: `sleep` moves time forward and records the duration.
final class ManualRedisClock: RedisClusterClock {
    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))
    func now() -> Duration { state.withLock { $0.now } }
    func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        state.withLock {
            $0.now += duration
            $0.sleeps.append(duration)
        }
        await Task.yield()
    }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }
}

/// A simulated cluster: which node owns each slot, scripted error replies, and a log of every command.
final class FakeCluster: Sendable {
    struct State {
        var owners: [ClosedRange<Int>: Int] = [:]  // slot range → port
        var ports: [Int] = []
        var data: [String: String] = [:]
        /// Replies a node gives before answering normally: port → queue of raw RESP replies.
        var scripted: [Int: [String]] = [:]
        /// Slots being imported by a node (answer only after ASKING): slot → port.
        var importing: [Int: Int] = [:]
        var log: [(port: Int, words: [String], asking: Bool)] = []
        var shardsSupported = true
    }

    let state: Mutex<State>

    init(ports: [Int]) {
        var state = State()
        state.ports = ports
        let per = HashSlot.count / ports.count
        for (index, port) in ports.enumerated() {
            let end = index == ports.count - 1 ? HashSlot.count - 1 : (index + 1) * per - 1
            state.owners[(index * per)...end] = port
        }
        self.state = Mutex(state)
    }

    func owner(of slot: Int) -> Int {
        state.withLock { state in state.owners.first { $0.key.contains(slot) }!.value }
    }

    /// Moves `slot` to `port` (what `CLUSTER SETSLOT … NODE` does).
    func move(slot: Int, to port: Int) {
        state.withLock { state in
            var owners: [ClosedRange<Int>: Int] = [:]
            for (range, owner) in state.owners {
                if range.contains(slot) {
                    if range.lowerBound < slot { owners[range.lowerBound...(slot - 1)] = owner }
                    if slot < range.upperBound { owners[(slot + 1)...range.upperBound] = owner }
                } else {
                    owners[range] = owner
                }
            }
            owners[slot...slot] = port
            state.owners = owners
        }
    }

    func script(_ port: Int, _ replies: [String]) { state.withLock { $0.scripted[port, default: []] += replies } }

    var log: [(port: Int, words: [String], asking: Bool)] { state.withLock { $0.log } }

    func reply(port: Int, words: [String], asking: Bool) -> String {
        state.withLock { state in
            state.log.append((port, words, asking))
            if var queue = state.scripted[port], !queue.isEmpty {
                let reply = queue.removeFirst()
                state.scripted[port] = queue
                return reply
            }
            switch words.first?.uppercased() {
            case "CLUSTER":
                if words[1].uppercased() == "SHARDS" {
                    guard state.shardsSupported else { return "-ERR unknown subcommand 'SHARDS'\r\n" }
                    var byPort: [Int: [ClosedRange<Int>]] = [:]
                    for (range, port) in state.owners { byPort[port, default: []].append(range) }
                    var out = "*\(byPort.count)\r\n"
                    for (port, ranges) in byPort.sorted(by: { $0.key < $1.key }) {
                        out += "*4\r\n$5\r\nslots\r\n*\(ranges.count * 2)\r\n"
                        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                            out += ":\(range.lowerBound)\r\n:\(range.upperBound)\r\n"
                        }
                        out += "$5\r\nnodes\r\n*1\r\n*10\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nport\r\n:\(port)\r\n"
                        out += "$4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n"
                    }
                    return out
                }
                var out = "*\(state.owners.count)\r\n"
                for (range, port) in state.owners {
                    out += "*3\r\n:\(range.lowerBound)\r\n:\(range.upperBound)\r\n*2\r\n$9\r\n127.0.0.1\r\n:\(port)\r\n"
                }
                return out
            case "GET", "SET", "MGET", "DEL":
                let keys = words[0].uppercased() == "SET" || words[0].uppercased() == "GET" ? [words[1]] : Array(words.dropFirst())
                let slot = Int(HashSlot(key: keys[0]).rawValue)
                if let importer = state.importing[slot] {
                    if importer == port && !asking {
                        return "-MOVED \(slot) 127.0.0.1:\(state.owners.first { $0.key.contains(slot) }!.value)\r\n"
                    }
                    if importer != port { return "-ASK \(slot) 127.0.0.1:\(importer)\r\n" }
                } else {
                    let owner = state.owners.first { $0.key.contains(slot) }!.value
                    if owner != port { return "-MOVED \(slot) 127.0.0.1:\(owner)\r\n" }
                }
                if keys.contains(where: { HashSlot(key: $0).rawValue != slot }) {
                    return "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
                }
                switch words[0].uppercased() {
                case "SET":
                    state.data[words[1]] = words[2]
                    return "+OK\r\n"
                case "GET":
                    return state.data[words[1]].map { "$\($0.utf8.count)\r\n\($0)\r\n" } ?? "_\r\n"
                case "MGET":
                    return "*\(keys.count)\r\n" + keys.map { key in
                        state.data[key].map { "$\($0.utf8.count)\r\n\($0)\r\n" } ?? "_\r\n"
                    }.joined()
                default:
                    return ":\(keys.count)\r\n"
                }
            default:
                return "+OK\r\n"
            }
        }
    }

    func node(_ address: RedisAddress) -> any RedisClusterNode { FakeNode(port: address.port, cluster: self) }
}

/// One node of a ``FakeCluster``.
struct FakeNode: RedisClusterNode {
    let port: Int
    let cluster: FakeCluster

    func execute<Command: RedisCommand>(_ command: Command, asking: Bool) async throws(RedisError) -> Command.Response {
        var encoder = RESPCommandEncoder()
        command.encode(into: &encoder)
        var request = encoder.buffer
        let words = try RESPToken(consuming: &request)!.array().map { (word: RESPToken) throws(RedisError) in try word.string() }
        var reply = ByteBuffer(string: cluster.reply(port: port, words: words, asking: asking))
        if reply.readableBytes == 0 {
            throw RedisError(code: .connectionFailed, message: "fake node is down")
        }
        return try command.decode(try RESPToken(consuming: &reply)!)
    }

    func execute<Command: RedisCommand>(_ command: Command) async throws(RedisError) -> Command.Response {
        try await execute(command, asking: false)
    }

    func subscribe(to channels: [String]) async throws(RedisError) -> RedisSubscription {
        throw RedisError(code: .unavailable, message: "fake nodes do not publish")
    }

    func primaries() async throws(RedisError) -> [any RedisCommandExecutor] { [self] }

    func shutdown() async {}
}
