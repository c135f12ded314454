@testable import DejaServer
import DejaCore
import DejaGateway
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Synchronization
import Testing

/// ``PlainHitHandler`` on a channel, against a fake answerer: which bytes it answers, which it hands on
/// (always whole, in order, before any event that follows them), and when it stops reading requests itself.
@Suite struct PlainHitHandlerChannelTests {
    /// Answers a plain request whose body starts with `hit`; looks up one that starts with `stored`
    /// (the test completes the lookup: ``lookups``); records the bodies it was asked about.
    final class FakeAnswers: PlainAnswering {
        let serverName: String? = "deja-test"
        private(set) var asked: [String] = []
        /// The lookups started, in order, each with the body it is for.
        var lookups: [(body: String, answer: EventLoopPromise<TaskResponse?>)] { started.list.withLock { $0 } }
        private let started = Started()

        final class Started: Sendable {
            let list = Mutex<[(body: String, answer: EventLoopPromise<TaskResponse?>)]>([])
        }

        func answer(plain head: PlainRequestHead, in bytes: UnsafeRawBufferPointer) -> FastAnswer {
            let body = String(decoding: bytes[head.bodyStart..<head.end], as: UTF8.self)
            asked.append(body)
            if body.hasPrefix("hit") { return .answer(FakeFastPath.answer(to: body)) }
            guard body.hasPrefix("stored") else { return .route }
            return .lookUp { [started] eventLoop in
                let promise = eventLoop.makePromise(of: TaskResponse?.self)
                started.list.withLock { $0.append((body, promise)) }
                return promise.futureResult
            }
        }
    }

    /// What reaches the rest of the pipeline, in order. A read that starts a request opens it on the
    /// connection's clock, as HTTP/1 parsing and the timeout handler would.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let clock: ConnectionClock
        private(set) var seen: [String] = []

        init(clock: ConnectionClock) { self.clock = clock }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            if text.hasPrefix("POST") { clock.open += 1 }
            seen.append(text)
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            seen.append("event \(event)")
        }
    }

    /// Counts the reads the handler lets through to the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        private(set) var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    let clock = ConnectionClock()
    let answers = FakeAnswers()
    let recorder: Recorder
    let channel = EmbeddedChannel()

    init() throws {
        recorder = Recorder(clock: clock)
        try channel.pipeline.syncOperations.addHandler(PlainHitHandler(fastPath: answers, clock: clock))
        try channel.pipeline.syncOperations.addHandler(recorder)
    }

    static func post(_ body: String, extra: String = "") -> String {
        "POST /ocr HTTP/1.1\r\nHost: t\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// One read of `text`, and its end.
    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// The answers written so far, as text.
    func written() throws -> String {
        var out = ""
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: bytes) }
        return out
    }

    @Test func aHitIsAnsweredFromTheBytesAndWhatFollowsAMissWaitsForIt() throws {
        try send(Self.post("hit one") + Self.post("miss two") + Self.post("hit three"))
        let answer = try written()
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(answer.hasSuffix("Server: deja-test\r\n\r\nanswer to hit one"))
        #expect(answer.contains("Content-Length: 17\r\n"))
        // The miss goes on whole; the hit behind it too, as the miss is not answered yet.
        #expect(recorder.seen == [Self.post("miss two"), Self.post("hit three")])
        #expect(answers.asked == ["hit one", "miss two"])
    }

    @Test func aHeadInPiecesIsKeptUntilWhole() throws {
        let request = Self.post("hit four")
        try send(String(request.prefix(10)))
        #expect(try written() == "")
        #expect(recorder.seen.isEmpty)
        #expect(clock.headStartedAt != nil)  // the header timeout runs meanwhile
        try send(String(request.dropFirst(10)))
        #expect(try written().hasSuffix("answer to hit four"))
        #expect(recorder.seen.isEmpty)
        #expect(clock.headStartedAt == nil)
    }

    @Test func aKeptHeadGoesOnBeforeTheEventThatFollowsIt() throws {
        let request = Self.post("hit five")
        try send(String(request.prefix(10)))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(recorder.seen == [String(request.prefix(10)), "event inputClosed"])
        // Where that request ends is now HTTP/1 parsing's to know: everything after goes on.
        try send(String(request.dropFirst(10)) + request)
        #expect(recorder.seen == [String(request.prefix(10)), "event inputClosed", String(request.dropFirst(10)) + request])
        #expect(try written() == "")
    }

    @Test func onceTheServerQuiescesEveryRequestGoesOn() throws {
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        try send(Self.post("hit six"))
        #expect(try written() == "")
        #expect(recorder.seen.last == Self.post("hit six"))
        #expect(answers.asked.isEmpty)
    }

    @Test func aBodyStillArrivingIsCountedThroughToTheNextRequest() throws {
        let request = Self.post("miss seven")
        try send(String(request.dropLast(4)))
        #expect(recorder.seen == [String(request.dropLast(4))])
        clock.open = 0  // its answer was written
        try send(String(request.suffix(4)) + Self.post("hit eight"))
        #expect(recorder.seen == [String(request.dropLast(4)), String(request.suffix(4))])
        #expect(try written().hasSuffix("answer to hit eight"))
        #expect(answers.asked == ["hit eight"])
    }

    @Test func afterAnythingNotPlainEveryByteGoesOn() throws {
        let chunked = "POST /ocr HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nhit nine\r\n0\r\n\r\n"
        try send(chunked)
        clock.open = 0
        try send(Self.post("hit ten"))
        #expect(recorder.seen == [chunked, Self.post("hit ten")])
        #expect(try written() == "")
        #expect(answers.asked.isEmpty)
    }

    @Test func aHeadThatTakesTooManyReadsGoesOnAsItIs() throws {
        let request = Self.post("hit eleven")
        for index in 0..<PlainHitHandler<FakeAnswers>.maxHeadReads {
            try send(String(request.dropFirst(index).prefix(1)))
            #expect(recorder.seen.isEmpty)
        }
        let reads = PlainHitHandler<FakeAnswers>.maxHeadReads
        try send(String(request.dropFirst(reads).prefix(1)))
        #expect(recorder.seen == [String(request.prefix(reads + 1))])
        try send(String(request.dropFirst(reads + 1)))
        #expect(recorder.seen == [String(request.prefix(reads + 1)), String(request.dropFirst(reads + 1))])
        #expect(try written() == "")
    }

    @Test func anAnswerOnlyGoesOutWithTheReadsEnd() throws {
        channel.pipeline.fireChannelRead(ByteBuffer(string: Self.post("hit twelve")))
        #expect(try written() == "")
        channel.pipeline.fireChannelReadComplete()
        #expect(try written().hasSuffix("answer to hit twelve"))
    }

    /// Holds writes (and flushes) on their way to the socket until released, as a socket that takes
    /// its time does.
    final class SlowSocket: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        private var held: [(NIOAny, EventLoopPromise<Void>?)] = []
        private var context: ChannelHandlerContext?

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) { held.append((data, promise)) }
        func flush(context: ChannelHandlerContext) {}

        func release() {
            guard let context else { return }
            for (data, promise) in held { context.write(data, promise: promise) }
            held.removeAll()
            context.flush()
        }
    }

    @Test(arguments: [false, true])
    func aHalfCloseOrQuiesceWaitsForTheAnswersToLeave(_ quiesce: Bool) throws {
        let socket = SlowSocket()
        try channel.pipeline.syncOperations.addHandler(socket, position: .first)
        try send(Self.post("hit thirteen"))
        if quiesce {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        } else {
            channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        // Hummingbird would close on it: it waits for the answer's bytes to leave.
        #expect(recorder.seen.isEmpty)
        socket.release()
        #expect(try written().hasSuffix("answer to hit thirteen"))
        #expect(recorder.seen == [quiesce ? "event ChannelShouldQuiesceEvent()" : "event inputClosed"])
    }

    @Test func withoutAnswersWrittenHereEventsGoOnAtOnce() throws {
        let socket = SlowSocket()
        try channel.pipeline.syncOperations.addHandler(socket, position: .first)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(recorder.seen == ["event inputClosed"])
    }

    @Test func aSocketThatIsNotWritableGetsItsAnswersFromTheHTTPPath() throws {
        channel.isWritable = false
        try send(Self.post("hit fourteen"))
        #expect(try written() == "")
        #expect(recorder.seen == [Self.post("hit fourteen")])
        #expect(answers.asked.isEmpty)
        // The boundary is still known: once writable, repeats are answered here again.
        channel.isWritable = true
        clock.open = 0
        try send(Self.post("hit fifteen"))
        #expect(try written().hasSuffix("answer to hit fifteen"))
    }

    @Test func nothingIsAnsweredAfterTheHTTPPathClosesTheConnection() throws {
        clock.closing = true
        try send(Self.post("hit sixteen"))
        #expect(try written() == "")
        #expect(recorder.seen == [Self.post("hit sixteen")])
    }

    @Test func aStoredAnswerIsWrittenWhenItsLookupEndsAndWhatCameBehindWaitsForIt() throws {
        let reads = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(reads, position: .first)
        try send(Self.post("stored one") + Self.post("hit two"))
        #expect(answers.lookups.map(\.body) == ["stored one"])
        #expect(answers.asked == ["stored one"])  // the hit behind waits, unread
        #expect(clock.open == 1)  // a request in progress: no idle or header timeout meanwhile
        // Reads pause: what the client sends meanwhile stays in the socket; what was read waits behind.
        channel.read()
        #expect(reads.reads == 0)
        try send(Self.post("miss three"))
        #expect(recorder.seen.isEmpty)
        #expect(try written() == "")
        answers.lookups[0].answer.succeed(FakeFastPath.answer(to: "stored one"))
        let out = try written()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.contains("answer to stored one"))
        #expect(out.hasSuffix("answer to hit two"))
        #expect(out.range(of: "answer to stored one")!.lowerBound < out.range(of: "answer to hit two")!.lowerBound)
        #expect(recorder.seen == [Self.post("miss three")])
        #expect(reads.reads == 1)  // the read asked for meanwhile goes out now
        #expect(clock.open == 1)  // the miss, opened by the HTTP/1 path
    }

    @Test func aLookupThatFindsNothingHandsItsRequestOnAndTheHTTPPathDoesNotAskAgain() throws {
        try send(Self.post("stored four") + Self.post("hit five"))
        #expect(clock.lookedUp == false)
        answers.lookups[0].answer.succeed(nil)
        #expect(recorder.seen == [Self.post("stored four"), Self.post("hit five")])
        #expect(clock.lookedUp)  // HitFastPathHandler sends the next head to the router
        #expect(try written() == "")
        #expect(answers.asked == ["stored four"])  // the hit behind a request handed on goes on too
    }

    @Test func aFailedLookupHandsItsRequestOn() throws {
        try send(Self.post("stored six"))
        answers.lookups[0].answer.fail(ChannelError.ioOnClosedChannel)
        #expect(recorder.seen == [Self.post("stored six")])
        #expect(try written() == "")
    }

    @Test func lookupsBehindALookupRunInTurn() throws {
        try send(Self.post("stored seven") + Self.post("stored eight"))
        #expect(answers.lookups.map(\.body) == ["stored seven"])
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        answers.lookups[0].answer.succeed(FakeFastPath.answer(to: "stored seven"))
        #expect(answers.lookups.map(\.body) == ["stored seven", "stored eight"])
        #expect(try written().hasSuffix("answer to stored seven"))
        #expect(recorder.seen.isEmpty)  // the half-close waits for the second lookup too
        answers.lookups[1].answer.succeed(FakeFastPath.answer(to: "stored eight"))
        #expect(try written().hasSuffix("answer to stored eight"))
        #expect(recorder.seen == ["event inputClosed"])
        #expect(clock.open == 0)
    }

    @Test func aConnectionThatEndsDuringALookupHandsItsBytesOnAndIgnoresTheLateAnswer() throws {
        try send(Self.post("stored nine") + Self.post("hit ten"))
        channel.pipeline.fireChannelInactive()
        #expect(recorder.seen == [Self.post("stored nine"), Self.post("hit ten")])
        answers.lookups[0].answer.succeed(FakeFastPath.answer(to: "stored nine"))
        #expect(try written() == "")
        #expect(recorder.seen.count == 2)
    }

    @Test func aStoredAnswerIsNotWrittenAfterTheHTTPPathStartedClosing() throws {
        try send(Self.post("stored eleven"))
        clock.closing = true
        answers.lookups[0].answer.succeed(FakeFastPath.answer(to: "stored eleven"))
        #expect(try written() == "")
        #expect(recorder.seen == [Self.post("stored eleven")])
    }

    /// The head ``HitFastPathHandler`` gives NIO's encoder for `answer`.
    static func encoded(_ answer: TaskResponse, date: String) throws -> String {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
        var headers = HTTPHeaders()
        TaskController<DejaRequestContext>.forEachField(of: answer) { headers.add(name: $0.rawName, value: $1) }
        headers.add(name: "Content-Length", value: String(answer.body.reduce(0) { $0 + $1.readableBytes }))
        headers.add(name: "Date", value: date)
        headers.add(name: "Server", value: "deja")
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: answer.status), headers: headers)))
        var out = ""
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: bytes) }
        _ = try channel.finish()
        return out
    }

    @Test(arguments: [200, 204, 304, 422, 429, 500, 502])
    func answerHeadsAreWhatNIOsEncoderWrites(_ status: Int) throws {
        var answer = TaskResponse(status: status, outcome: status == 200 ? .hit : .negative, key: nil, tokens: 3,
                                  body: status == 204 || status == 304 ? [] : [ByteBuffer(string: "{}")])
        answer.retryAfter = status == 429 ? 7 : nil
        var head = ByteBuffer()
        PlainHitHandler<FakeAnswers>.writeHead(of: answer, contentLength: answer.body.reduce(0) { $0 + $1.readableBytes },
                                               date: "Sat, 05 Dec 2026 09:00:00 GMT", serverName: "deja", into: &head)
        #expect(String(buffer: head) == (try Self.encoded(answer, date: "Sat, 05 Dec 2026 09:00:00 GMT")))
    }
}
