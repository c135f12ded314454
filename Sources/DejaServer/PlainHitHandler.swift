import DejaCore
import DejaGateway
import NIOCore
import NIOHTTP1

/// Answers cache hits straight from a connection's bytes, before HTTP/1 parsing: the front of the
/// fast path.
///
/// Most repeats arrive as one small, plainly written `POST` in one read. For those, the work of HTTP
/// parsing, header dictionaries, NIO's response encoder and four handlers passing request parts costs
/// several times the lookup itself. So at a request boundary this handler reads the bytes with
/// ``PlainRequestHead`` — a strict subset of what llhttp accepts, read the same way — and when the
/// whole request is there and the memory tier holds its answer (``HitFastPath/answer(plain:in:)``),
/// writes the answer's bytes itself, exactly as NIO's encoder writes the head ``HitFastPathHandler``
/// gives it. When the body was seen before but its answer is not in memory, the answer is looked up in
/// the shared store (one Redis GET from this event loop) while the connection's reads pause: what
/// arrives meanwhile is kept behind the request, and events wait, until the lookup ends with the
/// answer written here or the request handed on (to the router, which the HTTP/1 path's own fast path
/// then does not ask Redis again: ``ConnectionClock/lookedUp``). Everything else goes on to the HTTP/1
/// decoder untouched, byte for byte:
///
/// - a complete plain request without such an answer: its bytes, after which the handler knows the
///   next request starts (llhttp reads the same end);
/// - a plain head whose body has not all arrived: its bytes, and the rest of its body as it comes, by
///   count;
/// - a head not yet complete: kept (up to ``PlainRequestHead/maxHeadBytes``, for a few reads) until
///   it is, while the connection's header timeout runs as for any head;
/// - anything not plain, and everything after it on the connection, and everything once the server
///   is quiescing.
///
/// It answers only while no request handed on is still unanswered (``ConnectionClock/open``), so
/// answers keep the requests' order; while the HTTP/1 path is not closing the connection
/// (``ConnectionClock/closing``); and while the socket is writable — past that, requests go on whole to
/// the HTTP/1 path, whose reads wait for the socket, so a client that sends without reading cannot pile
/// answers up in memory. A client's half-close or the server's quiesce is held back while answers
/// written here have not all left, then goes on (with any held head start before it), so Hummingbird
/// does not close the connection under them. A connection starts lingering or closing only through the
/// HTTP/1 path, whose handlers stay as they are.
final class PlainHitHandler<Answerer: PlainAnswering>: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection's bytes stand.
    private enum Mode {
        /// At a request boundary: the next bytes start a request.
        case boundary
        /// Inside a request handed on, with this many of its bytes still to come.
        case forwarding(remaining: Int)
        /// Everything goes on: the handler no longer knows where requests start.
        case opaque
    }

    /// Reads a head may take to complete before it is handed on as it is.
    static var maxHeadReads: Int { 4 }

    private let fastPath: Answerer
    private let clock: ConnectionClock
    private var mode = Mode.boundary
    /// The start of a head not yet complete, at a boundary.
    private var held: ByteBuffer?
    /// Reads the held head has taken so far.
    private var heldReads = 0
    /// Whether an answer was written since the last flush.
    private var wrote = false
    /// Whether an answer was ever written here.
    private var answered = false
    /// Events held back until the answers written have left (or a lookup has ended).
    private var deferred: [Any] = []
    /// Whether an empty write is on its way to tell when the answers written have left.
    private var draining = false
    /// A request whose answer is being looked up in the shared store, and the bytes read behind it.
    private struct LookingUp {
        var request: ByteBuffer
        var behind: ByteBuffer?

        mutating func keep(_ bytes: inout ByteBuffer) {
            if behind == nil { behind = bytes } else { behind!.writeBuffer(&bytes) }
        }
    }

    /// Once handed on (the connection ended), never set again: every later byte is opaque.
    private var lookingUp: LookingUp?
    /// Whether a read was asked for while a lookup paused reading.
    private var readWanted = false
    private var date = HTTPDate()

    init(fastPath: Answerer, clock: ConnectionClock) {
        self.fastPath = fastPath
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if lookingUp != nil {
            // Read before the pause took effect: kept in order behind the request looked up.
            lookingUp?.keep(&bytes)
            return
        }
        if var start = held {
            held = nil
            start.writeBuffer(&bytes)
            bytes = start
        }
        consume(&bytes, context: context)
    }

    /// Reads requests from `bytes` at the connection's boundary: answers, hands on, keeps a head start,
    /// or starts a lookup (and keeps the rest behind it).
    private func consume(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) {
        while bytes.readableBytes > 0 {
            switch mode {
            case .opaque:
                hand(bytes, context: context)
                return
            case .forwarding(let remaining):
                let count = min(remaining, bytes.readableBytes)
                hand(bytes.readSlice(length: count)!, context: context)
                mode = remaining == count ? .boundary : .forwarding(remaining: remaining - count)
            case .boundary:
                let reading = bytes.withUnsafeReadableBytes { PlainRequestHead.read($0) }
                switch reading {
                case .notPlain:
                    mode = .opaque
                case .incomplete:
                    heldReads += 1
                    guard heldReads > Self.maxHeadReads else {
                        // The head's first byte starts the header timeout, as the HTTP/1 path would.
                        if clock.open == 0, clock.headStartedAt == nil { clock.headStartedAt = context.eventLoop.now }
                        held = bytes
                        return
                    }
                    mode = .opaque
                case .head(let head):
                    heldReads = 0
                    guard head.end <= bytes.readableBytes else {
                        mode = .forwarding(remaining: head.end - bytes.readableBytes)
                        hand(bytes, context: context)
                        return
                    }
                    guard clock.open == 0, !clock.closing, context.channel.isWritable else {
                        hand(bytes.readSlice(length: head.end)!, context: context)
                        continue
                    }
                    switch bytes.withUnsafeReadableBytes({ fastPath.answer(plain: head, in: $0) }) {
                    case .answer(let answer):
                        bytes.moveReaderIndex(forwardBy: head.end)
                        write(answer, context: context)
                    case .route:
                        hand(bytes.readSlice(length: head.end)!, context: context)
                    case .lookUp(let lookup):
                        let request = bytes.readSlice(length: head.end)!
                        startLookUp(lookup, request: request, behind: bytes.readableBytes > 0 ? bytes : nil, context: context)
                        return
                    }
                }
            }
        }
    }

    /// Flushes the answers written and lets the HTTP/1 path take what it was handed.
    func channelReadComplete(context: ChannelHandlerContext) {
        if wrote {
            wrote = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Quiescing: the HTTP/1 path decides which requests are still answered.
        if event is ChannelShouldQuiesceEvent { mode = .opaque }
        deferred.append(event)
        releaseDeferred(context: context)
    }

    /// Passes the events held back on (after any held head start) once no lookup runs and the answers
    /// written here have left.
    private func releaseDeferred(context: ChannelHandlerContext) {
        guard !deferred.isEmpty, lookingUp == nil, !draining else { return }
        guard answered else { return fireDeferred(context: context) }
        // Writes complete in order: an empty one behind the answers tells when they have all left.
        draining = true
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
        written.futureResult.assumeIsolated().whenComplete { [self] _ in
            draining = false
            fireDeferred(context: context)
        }
    }

    private func fireDeferred(context: ChannelHandlerContext) {
        let events = deferred
        deferred.removeAll()
        handHeld(context: context)
        for event in events { context.fireUserInboundEventTriggered(event) }
    }

    func read(context: ChannelHandlerContext) {
        // A lookup pauses reading: what the client sends meanwhile waits in the socket.
        guard lookingUp == nil else {
            readWanted = true
            return
        }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deferred.removeAll()
        handLookingUp(context: context)
        handHeld(context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handLookingUp(context: context)
        handHeld(context: context)
    }

    /// Starts looking up the answer to `request`; reads pause and `behind` waits until it ends.
    private func startLookUp(
        _ lookup: @Sendable (any EventLoop) -> EventLoopFuture<TaskResponse?>, request: ByteBuffer, behind: ByteBuffer?,
        context: ChannelHandlerContext
    ) {
        lookingUp = LookingUp(request: request, behind: behind)
        // A request in progress: the connection's idle and header timeouts wait for it (the lookup has its own).
        clock.open += 1
        clock.headStartedAt = nil
        lookup(context.eventLoop).assumeIsolated().whenComplete { [self] result in
            lookedUp(answer: (try? result.get()) ?? nil, context: context)
        }
    }

    /// A lookup ended: writes its answer, or hands its request on, then goes on with what came behind it.
    private func lookedUp(answer: TaskResponse?, context: ChannelHandlerContext) {
        guard let waiting = lookingUp else { return }  // handed on already: the connection ended
        lookingUp = nil
        // Nothing went on to the HTTP/1 path meanwhile: no request is open now.
        clock.open -= 1
        clock.idleSince = context.eventLoop.now
        if let answer, !clock.closing, context.channel.isWritable {
            write(answer, context: context)
        } else {
            // The HTTP/1 path's fast path would ask the shared store again; the router asks once.
            clock.lookedUp = answer == nil
            hand(waiting.request, context: context)
        }
        if var behind = waiting.behind { consume(&behind, context: context) }
        // Outside a read: what was written or handed on goes on as at a read's end.
        channelReadComplete(context: context)
        // The next request may be looked up already: reads and events wait for it in turn.
        guard lookingUp == nil else { return }
        releaseDeferred(context: context)
        if readWanted {
            readWanted = false
            context.read()
        }
    }

    /// Hands a request being looked up on, with what came behind it, once the connection ends; its
    /// lookup's answer will be ignored.
    private func handLookingUp(context: ChannelHandlerContext) {
        guard let waiting = lookingUp else { return }
        lookingUp = nil
        clock.open -= 1
        mode = .opaque
        hand(waiting.request, context: context)
        if let behind = waiting.behind { hand(behind, context: context) }
    }

    /// Hands bytes on to HTTP/1 parsing; the first byte of a request there starts its header timeout.
    private func hand(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if clock.open == 0, clock.headStartedAt == nil { clock.headStartedAt = context.eventLoop.now }
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    /// Hands a held head start on, so HTTP/1 parsing sees the bytes before the event that follows them.
    private func handHeld(context: ChannelHandlerContext) {
        guard let bytes = held else { return }
        held = nil
        mode = .opaque
        hand(bytes, context: context)
    }

    /// Writes `answer` (flushed when the read ends) and leaves the connection idle from now.
    private func write(_ answer: TaskResponse, context: ChannelHandlerContext) {
        let length = answer.body.reduce(0) { $0 + $1.readableBytes }
        var head = context.channel.allocator.buffer(capacity: 384 + (length <= Self.inlineBodyBytes ? length : 0))
        Self.writeHead(of: answer, contentLength: length, date: date.now(), serverName: fastPath.serverName, into: &head)
        if length <= Self.inlineBodyBytes {
            for var part in answer.body { head.writeBuffer(&part) }
            context.write(wrapOutboundOut(head), promise: nil)
        } else {
            context.write(wrapOutboundOut(head), promise: nil)
            for part in answer.body { context.write(wrapOutboundOut(part), promise: nil) }
        }
        wrote = true
        answered = true
        clock.headStartedAt = nil
        clock.idleSince = context.eventLoop.now
    }

    /// Bodies up to this size are copied behind the head (one write); larger ones are written as they are.
    static var inlineBodyBytes: Int { 4 << 10 }

    /// The status line and the fields ``HitFastPathHandler`` writes for `answer` (``FastAnswerFields``),
    /// as NIO's encoder writes them: `name: value` lines, in order, then the empty line.
    static func writeHead(of answer: TaskResponse, contentLength: Int, date: String, serverName: String?, into buffer: inout ByteBuffer) {
        let status = HTTPResponseStatus(statusCode: answer.status)
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        FastAnswerFields.forEach(of: answer, contentLength: contentLength, date: date, serverName: serverName) { name, value in
            buffer.writeString(name)
            buffer.writeStaticString(": ")
            buffer.writeString(value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
    }
}

/// What a ``PlainHitHandler`` asks of the fast path: the answer to a plain request whose bytes have all
/// arrived. ``HitFastPath`` is the real one; tests give the handler a fake. Called on the event loop; must
/// not block.
protocol PlainAnswering {
    /// The `Server` header of the answers the handler writes; `nil` for none.
    var serverName: String? { get }
    /// The answer to write, a lookup whose answer to write (`nil`: hand the request on), or `.route` to
    /// hand the request on to HTTP/1 parsing.
    func answer(plain head: PlainRequestHead, in bytes: UnsafeRawBufferPointer) -> FastAnswer
}
