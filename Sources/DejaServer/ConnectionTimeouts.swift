import NIOCore
import NIOHTTP1

/// How long a connection may hold the server without sending a request.
///
/// Between requests a connection may stay `idle` (no byte of a next request) before it is closed;
/// once the first byte of a request has arrived, its head must be complete within `header`. A request
/// in progress is governed by the body timeout and the model's timeout instead. Together they stop a
/// client that opens connections and sends nothing, or sends a head a byte at a time, from holding
/// sockets and memory indefinitely; neither needs credentials, so neither may be free.
struct ConnectionTimeouts: Sendable {
    var idle: TimeAmount
    var header: TimeAmount

    /// Adds the two handlers to an HTTP/1 pipeline: one in front of the HTTP decoder (it sees the
    /// bytes), one right after it (it sees requests and responses), sharing `clock`.
    func install(in pipeline: ChannelPipeline.SynchronousOperations, after decoder: any ChannelHandler,
                 clock: ConnectionClock = ConnectionClock()) throws {
        try pipeline.addHandler(RequestBytesWatcher(clock: clock), position: .first)
        try pipeline.addHandler(ConnectionTimeoutHandler(timeouts: self, clock: clock), position: .after(decoder))
    }
}

/// What the two handlers of one connection share; lives on the connection's event loop.
final class ConnectionClock {
    /// Requests whose head has arrived and whose response has not ended.
    var open = 0
    /// When the connection last had no request open (the event loop's time).
    var idleSince = NIODeadline.uptimeNanoseconds(0)
    /// When the first byte of the next request arrived, while none is open.
    var headStartedAt: NIODeadline?
    /// Whether the HTTP/1 path has written an answer after which the connection closes (the fast
    /// path's 408): no request is answered after it.
    var closing = false
    /// Whether the request the ``PlainHitHandler`` hands on next was looked up in the shared store
    /// without an answer: the HTTP/1 path's fast path leaves it to the router instead of asking again.
    var lookedUp = false
}

/// Notes when the first byte of a next request arrives. Does nothing else with the bytes.
final class RequestBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: ConnectionClock

    init(clock: ConnectionClock) { self.clock = clock }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if clock.open == 0, clock.headStartedAt == nil { clock.headStartedAt = context.eventLoop.now }
        context.fireChannelRead(data)
    }
}

/// Closes the connection when it has been idle for too long or a request head is too slow.
///
/// The hot path only updates counters and timestamps; one recurring check per connection (at a
/// quarter of the shorter timeout) does the judging, so no timer is scheduled per request.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeouts: ConnectionTimeouts
    private let clock: ConnectionClock
    private var check: Scheduled<Void>?
    private var started = false

    init(timeouts: ConnectionTimeouts, clock: ConnectionClock) {
        self.timeouts = timeouts
        self.clock = clock
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            clock.open += 1
            clock.headStartedAt = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), clock.open > 0 {
            clock.open -= 1
            if clock.open == 0 { clock.idleSince = context.eventLoop.now }
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        clock.idleSince = context.eventLoop.now
        scheduleCheck(context: context)
    }

    /// Schedules the next check; each check schedules the one after it until the connection ends.
    private func scheduleCheck(context: ChannelHandlerContext) {
        let every = TimeAmount.nanoseconds(max(min(timeouts.idle, timeouts.header).nanoseconds / 4, 1_000_000))
        check = context.eventLoop.assumeIsolated().scheduleTask(in: every) { [self] in
            guard self.started else { return }
            if self.expired(at: context.eventLoop.now) {
                self.stop()
                context.close(promise: nil)
            } else {
                self.scheduleCheck(context: context)
            }
        }
    }

    private func stop() {
        started = false
        check?.cancel()
        check = nil
    }

    /// Whether the connection has waited too long for a request head at `now`.
    func expired(at now: NIODeadline) -> Bool {
        guard clock.open == 0 else { return false }
        if let started = clock.headStartedAt { return now - started >= timeouts.header }
        return now - clock.idleSince >= timeouts.idle
    }
}
