import NIOCore
import NIOHTTP1

/// How a connection closes after an answer written before its request's body ended: nginx's
/// lingering close.
///
/// A client that writes its whole body before reading (Python's `http.client`, `urllib`) and gets an
/// early answer — 413, 401, 408 — on a connection that closes would otherwise block: the server stops
/// reading, the kernel's buffers fill, and the client never gets to read the answer; closing at once
/// is no better, as unread bytes make the kernel reset the connection, often before the client has
/// read the answer. So the connection keeps reading what the client still sends and discards it as it
/// comes, until the client closes its side, then closes — at the latest after `time` in all, after
/// `gap` without a byte, or once `maxBytes` have been discarded.
///
/// ``begin(_:)`` puts a ``LingeringCloseHandler`` at the front of the pipeline, before HTTP parsing,
/// only when a connection starts lingering: connections that never do carry nothing for it. The
/// router's early answers are noticed by an ``EarlyAnswerWatcher``; the fast path's own by
/// ``HitFastPathStateMachine``.
struct LingeringClose: Sendable {
    /// Longest time a connection reads and discards in all.
    var time: TimeAmount
    /// Longest wait for the client's next bytes.
    var gap: TimeAmount
    /// Most bytes read and discarded.
    var maxBytes: Int

    /// nginx's `lingering_timeout`: the longest wait for the next bytes, unless `time` is shorter.
    static let defaultGap = TimeAmount.seconds(5)

    init(time: TimeAmount, maxBytes: Int, gap: TimeAmount = Self.defaultGap) {
        self.time = time
        self.gap = min(gap, time)
        self.maxBytes = maxBytes
    }

    /// Starts lingering on the connection of `context`; the linger closes it. A connection already
    /// gone is closed.
    func begin(_ context: ChannelHandlerContext) {
        do {
            try context.pipeline.syncOperations.addHandler(LingeringCloseHandler(bounds: self), position: .first)
        } catch {
            context.close(promise: nil)
        }
    }
}

/// Reads and discards a lingering connection's bytes, then closes it; see ``LingeringClose``.
///
/// Added at the front of the pipeline, it drops every byte read before HTTP parsing sees it (nothing
/// is kept but a count), asks for the next read itself — the router, which stopped reading, is not
/// asked — and closes the connection when the client closes its side or a bound is reached. One
/// recurring check judges the time bounds, so no timer is scheduled per read.
final class LingeringCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let bounds: LingeringClose
    private var started = NIODeadline.uptimeNanoseconds(0)
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    /// Bytes discarded so far.
    private(set) var discarded = 0
    private var check: Scheduled<Void>?

    init(bounds: LingeringClose) {
        self.bounds = bounds
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        started = context.eventLoop.now
        lastRead = started
        scheduleCheck(context: context)
        context.read()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        discarded += unwrapInboundIn(data).readableBytes
        lastRead = context.eventLoop.now
        if discarded > bounds.maxBytes { close(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            close(context: context)  // the client read its answer and closed: done
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    /// Whether the linger is over at `now`: `time` since it began, or `gap` since the last read.
    func expired(at now: NIODeadline) -> Bool {
        now - started >= bounds.time || now - lastRead >= bounds.gap
    }

    private func scheduleCheck(context: ChannelHandlerContext) {
        let every = TimeAmount.nanoseconds(max(bounds.gap.nanoseconds / 4, 1_000_000))
        check = context.eventLoop.assumeIsolated().scheduleTask(in: every) { [self] in
            guard self.check != nil else { return }
            if self.expired(at: context.eventLoop.now) {
                self.close(context: context)
            } else {
                self.scheduleCheck(context: context)
            }
        }
    }

    private func close(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.close(promise: nil)
    }
}

/// Notices the router's early answers: a response that ends while its request's body is still
/// arriving, on a connection that closes after it (a request without keep-alive). Hummingbird stops
/// reading then; this starts a ``LingeringClose`` so the client can finish sending and read the answer.
///
/// Sits between the fast path (when on) and the router, so it sees only the router's requests and
/// responses; an early answer on a kept-alive connection is left to Hummingbird, which reads the rest
/// of the body through before the next request.
final class EarlyAnswerWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let lingering: LingeringClose
    /// Requests whose head has arrived and whose response has not ended.
    private var open = 0
    /// Whether the last request's body is still arriving.
    private var bodyArriving = false
    /// Whether the connection closes after the last request.
    private var closesAfter = false
    private var lingers = false

    init(lingering: LingeringClose) {
        self.lingering = lingering
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            open += 1
            bodyArriving = true
            closesAfter = !head.isKeepAlive
        case .end:
            bodyArriving = false
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), open > 0 {
            open -= 1
            if open == 0, bodyArriving, closesAfter, !lingers {
                lingers = true
                lingering.begin(context)
            }
        }
        context.write(data, promise: promise)
    }
}
