@testable import DejaServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The router path's lingering close: an ``EarlyAnswerWatcher`` behind NIO's real HTTP/1 parser, a
/// stand-in router that answers when told to, raw bytes in, and the embedded loop's manual time.
@Suite struct LingeringCloseTests {
    typealias SocketStandIn = HitFastPathHandlerTests.SocketStandIn
    typealias RouterStandIn = HitFastPathHandlerTests.RouterStandIn

    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    let socket = SocketStandIn()
    let router = RouterStandIn()

    init() throws {
        channel = EmbeddedChannel(loop: loop)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
        try pipeline.addHandler(socket, position: .first)
        try pipeline.addHandler(EarlyAnswerWatcher(lingering: LingeringClose(time: .seconds(30), maxBytes: 1000)))
        try pipeline.addHandler(router)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// A request head declaring a body of `length`, then `body`.
    func post(length: Int, _ body: String, version: String = "1.1", connection: String? = "close") -> String {
        "POST /ocr HTTP/\(version)\r\nHost: deja\r\nContent-Length: \(length)\r\n"
            + (connection.map { "Connection: \($0)\r\n" } ?? "") + "\r\n" + body
    }

    func written() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    /// The router answers a request whose body is still arriving, on a connection that closes after it.
    func answerEarly(version: String = "1.1", connection: String? = "close") throws {
        try send(post(length: 100_000, "first", version: version, connection: connection))
        router.answer("413")
        #expect(try written() == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n413")
    }

    @Test(arguments: [("1.1", "close"), ("1.0", nil)] as [(String, String?)])
    func anEarlyAnswerOnAClosingConnectionReadsAndDiscardsTheRest(_ version: String, _ connection: String?) throws {
        try answerEarly(version: version, connection: connection)
        // The linger reads from the front of the pipeline: count its reads there.
        let reads = SocketStandIn()
        try channel.pipeline.syncOperations.addHandler(reads, position: .first)
        try send(String(repeating: "x", count: 400))
        try send(String(repeating: "y", count: 400))
        // Read on, though the router asks for nothing; nothing of it reaches the parser or the router.
        #expect(reads.reads == 2)
        #expect(router.received == ["head POST /ocr", "body first"])
        #expect(channel.isActive)
        // The client read its answer and closed: so does the server.
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive)
        #expect(try written() == "")
    }

    @Test func aLingerEndsPastItsBytes() throws {
        try answerEarly()
        try send(String(repeating: "x", count: 1000))
        #expect(channel.isActive)
        // The close ends the body the parser was in: it reports that, as on any close mid-body.
        #expect(throws: HTTPParserError.self) { try send("y") }
        #expect(!channel.isActive)
    }

    @Test func aLingerEndsAfterItsTimeThoughTheClientKeepsSending() throws {
        try answerEarly()
        for _ in 0..<7 {
            loop.advanceTime(by: .seconds(4))
            try send("x")
        }
        #expect(channel.isActive)  // 28 s, a byte every 4 s
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func aLingerEndsWhenTheClientGoesQuiet() throws {
        try answerEarly()
        loop.advanceTime(by: .seconds(4))
        try send("x")
        loop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test func anEarlyAnswerOnAKeptAliveConnectionLeavesTheRestToTheRouter() throws {
        try answerEarly(connection: nil)
        try send("more")
        #expect(router.received == ["head POST /ocr", "body first", "body more"])
        loop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
    }

    @Test func anAnswerAfterTheWholeBodyDoesNotLinger() throws {
        try send(post(length: 5, "whole"))
        router.answer("ok")
        #expect(try written() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(router.received == ["head POST /ocr", "body whole", "end"])
        let reads = socket.reads
        loop.advanceTime(by: .seconds(60))
        #expect(socket.reads == reads)
        #expect(channel.isActive)  // Hummingbird closes it, not the linger
    }

    @Test func anAnswerToAnEarlierPipelinedRequestDoesNotLinger() throws {
        try send("GET /healthz HTTP/1.1\r\nHost: deja\r\n\r\n" + post(length: 100, "part"))
        router.answer("alive")
        _ = try written()
        try send("more")
        #expect(router.received == ["head GET /healthz", "end", "head POST /ocr", "body part", "body more"])
    }
}
