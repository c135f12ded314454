import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import DejaRedis

@Suite("Connection on a testing channel")
struct RedisConnectionTests {
    func makeConnection(timeout: TimeAmount? = .seconds(1)) async throws -> (NIOAsyncTestingChannel, RedisConnection) {
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(limits: .default, logger: Logger(label: "test")))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        let connection = RedisConnection(channel: channel, configuration: .init(commandTimeout: timeout))
        return (channel, connection)
    }

    func written(_ channel: NIOAsyncTestingChannel) async throws -> String {
        String(buffer: try await channel.waitForOutboundWrite(as: ByteBuffer.self))
    }

    @Test func commandAndReply() async throws {
        let (channel, connection) = try await makeConnection()
        let value = Task { try await connection.execute(GET("k")) }
        #expect(try await written(channel) == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        try await channel.writeInbound(ByteBuffer(string: "$2\r\nv1\r\n"))
        #expect(try await value.value == ByteBuffer(string: "v1"))
    }

    @Test("a pipeline is one write and gets one result per command, in order")
    func pipelining() async throws {
        let (channel, connection) = try await makeConnection()
        let results = Task {
            await connection.pipeline([
                SET("a", value: ByteBuffer(string: "1")), GET("a"), RawCommand(["NOPE"]), PING(),
            ])
        }
        #expect(try await written(channel)
            == "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nNOPE\r\n*1\r\n$4\r\nPING\r\n")
        // Replies may arrive split anywhere.
        try await channel.writeInbound(ByteBuffer(string: "+OK\r\n$1\r"))
        try await channel.writeInbound(ByteBuffer(string: "\n1\r\n-ERR unknown command\r\n+PO"))
        try await channel.writeInbound(ByteBuffer(string: "NG\r\n"))
        let replies = await results.value
        #expect(replies.count == 4)
        #expect(try replies[0].get().value == .simpleString(ByteBuffer(string: "OK")))
        #expect(try replies[1].get().value == .bulkString(ByteBuffer(string: "1")))
        guard case .failure(let error) = replies[2] else {
            Issue.record("the error reply did not fail")
            return
        }
        #expect(error.code == .serverError)
        #expect(error.serverMessage == "ERR unknown command")
        #expect(try replies[3].get().value == .simpleString(ByteBuffer(string: "PONG")))
    }

    @Test("concurrent commands are matched to replies in send order")
    func ordering() async throws {
        let (channel, connection) = try await makeConnection()
        let first = Task { try await connection.execute(GET("1")) }
        _ = try await written(channel)
        let second = Task { try await connection.execute(GET("2")) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: "$5\r\nfirst\r\n$6\r\nsecond\r\n"))
        #expect(try await first.value == ByteBuffer(string: "first"))
        #expect(try await second.value == ByteBuffer(string: "second"))
    }

    @Test("a timed-out command fails; its late reply is dropped and the next command gets its own")
    func timeouts() async throws {
        let (channel, connection) = try await makeConnection(timeout: .seconds(1))
        let slow = Task { try await connection.execute(GET("slow")) }
        _ = try await written(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(1500))
        let error = await #expect(throws: RedisError.self) { try await slow.value }
        #expect(error?.code == .timeout)

        let next = Task { try await connection.execute(GET("next")) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: "$4\r\nlate\r\n$4\r\nmine\r\n"))
        #expect(try await next.value == ByteBuffer(string: "mine"))
    }

    @Test func aReplyBeforeTheTimeoutWins() async throws {
        let (channel, connection) = try await makeConnection(timeout: .seconds(1))
        let value = Task { try await connection.execute(GET("k")) }
        _ = try await written(channel)
        await channel.testingEventLoop.advanceTime(by: .milliseconds(500))
        try await channel.writeInbound(ByteBuffer(string: "_\r\n"))
        await channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await value.value == nil)
    }

    @Test("malformed bytes fail every pending command and close the connection")
    func protocolErrorCloses() async throws {
        let (channel, connection) = try await makeConnection()
        let first = Task { try await connection.execute(GET("a")) }
        _ = try await written(channel)
        let second = Task { try await connection.execute(GET("b")) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        let firstError = await #expect(throws: RedisError.self) { try await first.value }
        #expect(firstError?.code == .protocolError)
        let secondError = await #expect(throws: RedisError.self) { try await second.value }
        #expect(secondError?.code == .protocolError)
        try await channel.closeFuture.get()
        #expect(!connection.isActive)
    }

    @Test func closingFailsPendingCommands() async throws {
        let (channel, connection) = try await makeConnection()
        let value = Task { try await connection.execute(GET("a")) }
        _ = try await written(channel)
        try await channel.close()
        let error = await #expect(throws: RedisError.self) { try await value.value }
        #expect(error?.code == .connectionClosed)
        let after = await #expect(throws: RedisError.self) { try await connection.execute(PING()) }
        #expect(after?.code == .connectionClosed)
    }

    @Test("pushes reach subscribers and never consume a command's reply")
    func pubSub() async throws {
        let (channel, connection) = try await makeConnection()
        let subscribing = Task { try await connection.subscribe(to: ["news", "sport"]) }
        #expect(try await written(channel) == "*3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n$5\r\nsport\r\n")
        try await channel.writeInbound(ByteBuffer(string: ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"))
        try await channel.writeInbound(ByteBuffer(string: ">3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n"))
        let subscription = try await subscribing.value

        let pong = Task { try await connection.execute(PING()) }
        _ = try await written(channel)
        // A message arrives between the command and its reply.
        try await channel.writeInbound(ByteBuffer(string: ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n+PONG\r\n"))
        #expect(try await pong.value == "PONG")
        var iterator = subscription.makeAsyncIterator()
        let message = try await iterator.next()
        #expect(message == RedisPushMessage(channel: "news", payload: ByteBuffer(string: "hello")))
    }

    @Test func subscriptionsEndWhenTheConnectionCloses() async throws {
        let (channel, connection) = try await makeConnection()
        let subscribing = Task { try await connection.subscribe(to: ["c"]) }
        _ = try await written(channel)
        try await channel.writeInbound(ByteBuffer(string: ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"))
        let subscription = try await subscribing.value
        try await channel.close()
        await #expect(throws: RedisError.self) {
            for try await _ in subscription {}
        }
    }

    @Test func handshakeSendsHelloWithCredentialsThenSelect() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(limits: .default, logger: Logger(label: "test")))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        let configuration = RedisConnectionConfiguration(
            authentication: .init(username: "app", password: "pw"), database: 3, clientName: nil
        )
        let connection = RedisConnection(channel: channel, configuration: configuration)
        let handshake = Task { try await connection.handshake() }
        #expect(try await written(channel) == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n")
        try await channel.writeInbound(ByteBuffer(string: "%1\r\n+server\r\n+redis\r\n"))
        #expect(try await written(channel) == "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n")
        try await channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        try await handshake.value
    }

    @Test func failedAuthenticationIsAServerError() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.testingEventLoop.executeInContext {
            try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(limits: .default, logger: Logger(label: "test")))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379))
        let connection = RedisConnection(
            channel: channel, configuration: .init(authentication: .init(password: "wrong"), protocolVersion: 2)
        )
        let handshake = Task { try await connection.handshake() }
        #expect(try await written(channel) == "*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n")
        try await channel.writeInbound(ByteBuffer(string: "-WRONGPASS invalid username-password pair\r\n"))
        let error = await #expect(throws: RedisError.self) { try await handshake.value }
        #expect(error?.serverErrorPrefix == "WRONGPASS")
        #expect(error.map { !$0.description.contains("wrong\r") } ?? false)
    }
}
