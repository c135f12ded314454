@testable import DejaServer
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The event-loop hit handler on a channel: raw HTTP/1.1 bytes in through NIO's real parser, bytes out
/// through its real encoder, a stand-in router behind the handler and a stand-in socket in front of
/// it. Time is the embedded event loop's, moved by hand.
@Suite struct HitFastPathHandlerTests {
    /// Takes what reaches the socket: counts reads, holds writes back (uncompleted) while paused, and
    /// takes a close of the output as a socket does — the channel stays open to read (an embedded
    /// channel would close whole).
    final class SocketStandIn: ChannelOutboundHandler {
        typealias OutboundIn = IOData

        private(set) var reads = 0
        private(set) var outputClosed = false
        var paused = false
        private var heldBack: [(NIOAny, EventLoopPromise<Void>?)] = []
        private var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if paused { heldBack.append((data, promise)) } else { context.write(data, promise: promise) }
        }

        func flush(context: ChannelHandlerContext) {
            if !paused { context.flush() }
        }

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            guard mode == .output else { return context.close(mode: mode, promise: promise) }
            outputClosed = true
            promise?.succeed(())
        }

        /// Writes what was held back; the writes complete.
        func resume() {
            paused = false
            let writes = heldBack
            heldBack.removeAll()
            for (data, promise) in writes { context!.write(data, promise: promise) }
            context!.flush()
        }
    }

    /// Records the request parts and connection events that reach it, and answers when told to.
    final class RouterStandIn: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private(set) var received: [String] = []
        private var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received.append(unwrapInboundIn(data).summary)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent {
                received.append("quiesce")
            } else if let event = event as? ChannelEvent, event == .inputClosed {
                received.append("inputClosed")
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        func answer(_ text: String) {
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "Content-Length", value: String(text.utf8.count))
            context!.write(wrapOutboundOut(.head(head)), promise: nil)
            context!.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context!.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    let socket = SocketStandIn()
    let router = RouterStandIn()
    let fastPath = FakeFastPath()
    let lingering = LingeringClose(time: .seconds(30), maxBytes: 1000)
    let clock = ConnectionClock()

    /// The pipeline Hummingbird's HTTP/1 channel sets up (no pipelining assistance), with the
    /// handler where ``DejaHTTP1Channel`` puts it and the stand-ins around.
    init() throws {
        channel = EmbeddedChannel(loop: loop)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
        try pipeline.addHandler(socket, position: .first)
        try pipeline.addHandler(HitFastPathHandler(fastPath: fastPath, lingering: lingering, clock: clock))
        try pipeline.addHandler(router)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// The bytes written to the socket since the last call, with the `Date` value and the error
    /// bodies' random `logId` replaced by placeholders once checked for their shape.
    func written() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
            .replacing(#/Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT/#, with: "Date: <date>")
            .replacing(#/"logId":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/#, with: #""logId":"<id>""#)
    }

    func post(_ body: String, length: Int? = nil, close: Bool = false) -> String {
        "POST /ocr HTTP/1.1\r\nHost: deja\r\nContent-Length: \(length ?? body.utf8.count)\r\n"
            + (close ? "Connection: close\r\n" : "") + "\r\n" + body
    }

    /// The fast answer the fake gives to `body`.
    func fastAnswer(_ body: String) -> String {
        let text = "answer to \(body)"
        return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-deja-cache: hit\r\nx-deja-tokens: 7\r\n"
            + "x-deja-billed-tokens: 0\r\nContent-Length: \(text.utf8.count)\r\nDate: <date>\r\nServer: deja-test\r\n\r\n\(text)"
    }

    func routerAnswer(_ text: String) -> String {
        "HTTP/1.1 200 OK\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)"
    }

    @Test func aHitIsAnsweredWithTheRoutersHeadersAndNeverReachesIt() throws {
        try send(post("hit me"))
        #expect(try written() == """
            HTTP/1.1 200 OK\r
            Content-Type: application/json\r
            x-deja-cache: hit\r
            x-deja-tokens: 7\r
            x-deja-billed-tokens: 0\r
            Content-Length: 16\r
            Date: <date>\r
            Server: deja-test\r
            \r
            answer to hit me
            """)
        #expect(router.received.isEmpty)
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(60))  // the body came in one read: no timer
        #expect(try written() == "")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try send(post("hit 1") + post("miss 2") + post("hit 3"))
        // The first is answered at once; the second goes to the router, and so does the third,
        // queued behind it: the fast path does not even look at it.
        #expect(try written() == fastAnswer("hit 1"))
        #expect(router.received == ["head POST /ocr", "body miss 2", "end", "head POST /ocr", "body hit 3", "end"])
        #expect(fastPath.holdsAsked.count == 2)
        #expect(fastPath.answersAsked == ["hit 1", "miss 2"])

        router.answer("routed 2")
        router.answer("routed 3")
        #expect(try written() == routerAnswer("routed 2") + routerAnswer("routed 3"))
        // Every routed response has ended: the next hit is fast again.
        try send(post("hit 4"))
        #expect(try written() == fastAnswer("hit 4"))
        #expect(router.received.count == 6)
    }

    @Test func aRequestThePlainPathLookedUpInVainGoesStraightToTheRouter() throws {
        clock.lookedUp = true  // PlainHitHandler found no stored answer for the request it hands on
        try send(post("stored hit 1"))
        #expect(router.received == ["head POST /ocr", "body stored hit 1", "end"])
        #expect(fastPath.holdsAsked.isEmpty)
        #expect(!clock.lookedUp)  // for that one request only
        router.answer("routed 1")
        try send(post("stored hit 2"))
        #expect(try written() == routerAnswer("routed 1") + fastAnswer("stored hit 2"))
        #expect(fastPath.answersAsked == ["stored hit 2"])
    }

    @Test func aSlowBodyGets408AndTheConnectionCloses() throws {
        try send(post("hit", length: 10))
        loop.advanceTime(by: .seconds(29))
        #expect(try written() == "")
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        let body = #"{"logId":"<id>","errorCode":408,"errorMsg":"the request body did not arrive within 30 s (server.bodyTimeoutSeconds)"}"#
        #expect(try written() == """
            HTTP/1.1 408 Request Timeout\r
            Content-Type: application/json\r
            x-deja-tokens: 0\r
            x-deja-billed-tokens: 0\r
            Content-Length: \(body.utf8.count + 36 - 4)\r
            Date: <date>\r
            Server: deja-test\r
            Connection: close\r
            \r
            \(body)
            """)
        // The client is still sending its body: the connection reads and discards it until the client
        // closes its side, then closes.
        #expect(socket.outputClosed)
        #expect(channel.isActive)
        try send("rest of it")
        #expect(channel.isActive)
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(!channel.isActive)
        #expect(try written() == "")
        #expect(router.received.isEmpty)
    }

    @Test func aLingerAfterA408EndsWhenTheClientGoesQuiet() throws {
        try send(post("hit", length: 10))
        loop.advanceTime(by: .seconds(30))
        #expect(try written().hasPrefix("HTTP/1.1 408"))
        loop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(router.received.isEmpty)
    }

    @Test func aBodyThatFinishesInTimeIsAnswered() throws {
        try send(post("hit ", length: 10))
        loop.advanceTime(by: .seconds(29))
        try send("slowly")
        #expect(try written() == fastAnswer("hit slowly"))
        loop.advanceTime(by: .seconds(60))
        #expect(try written() == "")
        #expect(channel.isActive)
    }

    @Test func aClientThatHalfClosesMidBodyLeavesTheRouterOnlyTheClose() throws {
        try send(post("hit ", length: 10))
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(router.received == ["inputClosed"])
        loop.advanceTime(by: .seconds(60))  // the body timer went with the request
        #expect(try written() == "")
        #expect(fastPath.answersAsked.isEmpty)
    }

    @Test func aQuiesceWhileAnAnswerIsBeingWrittenWaitsForTheWrite() throws {
        socket.paused = true
        try send(post("hit 1"))
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(router.received.isEmpty)
        socket.resume()
        #expect(try written() == fastAnswer("hit 1"))
        #expect(router.received == ["quiesce"])
    }

    @Test func aQuiesceWhileIdleGoesOnAtOnce() throws {
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(router.received == ["quiesce"])
    }

    @Test func aQuiesceWhileARequestIsHeldGoesOnWithItToTheRouter() throws {
        try send(post("miss ", length: 10))
        channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(router.received.isEmpty)
        try send("later")
        #expect(router.received == ["head POST /ocr", "body miss ", "body later", "quiesce", "end"])
    }

    @Test func readsWaitWhileTheSocketIsNotWritable() throws {
        let before = socket.reads
        channel.isWritable = false
        channel.pipeline.syncOperations.read()
        #expect(socket.reads == before)
        channel.isWritable = true
        channel.pipeline.syncOperations.fireChannelWritabilityChanged()
        #expect(socket.reads == before + 1)
        channel.pipeline.syncOperations.read()
        #expect(socket.reads == before + 2)
    }

    @Test func aConnectionCloseRequestClosesTheConnectionAfterItsAnswer() throws {
        // (NIO's parser refuses bytes after a `Connection: close` request itself.)
        try send(post("hit 1", close: true))
        // As the router does, the answer does not repeat the client's `Connection: close`.
        #expect(try written() == fastAnswer("hit 1"))
        #expect(!channel.isActive)
        #expect(router.received.isEmpty)
    }

    /// NIO's parser never makes a head inside a body, so this is fed as parts: the handler must
    /// still hand the router everything, in order, and drop its body timer.
    @Test func aHeadInsideAHeldRequestSendsBothToTheRouter() throws {
        let channel = EmbeddedChannel(loop: loop), router = RouterStandIn()
        try channel.pipeline.syncOperations.addHandler(HitFastPathHandler(fastPath: fastPath, lingering: lingering))
        try channel.pipeline.syncOperations.addHandler(router)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/ocr")
        head.headers.add(name: "Content-Length", value: "10")
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: "ab")))
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/healthz")))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        #expect(router.received == ["head POST /ocr", "body ab", "head GET /healthz", "end"])
        loop.advanceTime(by: .seconds(60))
        #expect(try channel.readOutbound(as: HTTPServerResponsePart.self) == nil)
    }
}
