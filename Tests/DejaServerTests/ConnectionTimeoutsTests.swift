@testable import DejaServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// Idle and header-read timeouts on a connection, with an embedded event loop's manual time.
@Suite struct ConnectionTimeoutsTests {
    /// A channel with the two timeout handlers around a real HTTP/1 decoder.
    func channel(idle: Int64 = 60, header: Int64 = 10) throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let decoder = ByteToMessageHandler(HTTPRequestDecoder())
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        try channel.pipeline.syncOperations.addHandler(decoder)
        try ConnectionTimeouts(idle: .seconds(idle), header: .seconds(header)).install(in: channel.pipeline.syncOperations, after: decoder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, loop)
    }

    @Test func anIdleConnectionIsClosed() throws {
        let (channel, loop) = try channel(idle: 60, header: 10)
        loop.advanceTime(by: .seconds(55))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive)
    }

    @Test func aHeadSentByteByByteIsCutOffAtTheHeaderTimeout() throws {
        let (channel, loop) = try channel(idle: 60, header: 10)
        let head = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n".utf8)
        var sent = 0
        while channel.isActive, sent < head.count {
            try channel.writeInbound(ByteBuffer(bytes: [head[sent]]))
            sent += 1
            loop.advanceTime(by: .seconds(1))
        }
        // A byte every second, but the head began more than 10 s ago: closed well before the idle
        // timeout, with most of the head still unsent.
        #expect(!channel.isActive)
        #expect((10...13).contains(sent))
    }

    @Test func aRequestInProgressIsNotCutOffAndTheIdleClockRestartsAfterIt() throws {
        let (channel, loop) = try channel(idle: 60, header: 10)
        try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        let head: HTTPServerRequestPart? = try channel.readInbound()
        guard case .head = head else { Issue.record("no head decoded"); return }
        loop.advanceTime(by: .seconds(120))  // the model takes its time
        #expect(channel.isActive)
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        loop.advanceTime(by: .seconds(50))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(15))
        #expect(!channel.isActive)
    }
}
