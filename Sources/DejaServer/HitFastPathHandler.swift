import DejaGateway
import HTTPTypes
import NIOCore
import NIOHTTP1

/// The per-connection half of ``HitFastPath``: sits right after HTTP/1 parsing, before the router,
/// writes the fast path's answers itself and passes everything else on as it came.
///
/// A thin shell around ``HitFastPathStateMachine``, which decides everything: each channel event goes
/// to the machine and the handler carries out the action it returns — passing parts and events on,
/// running the body timer, writing answers, reading, closing or lingering (``LingeringClose``). The connection's lifetime stays
/// Hummingbird's.
final class HitFastPathHandler<Answerer: FastAnswering>: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private typealias Machine = HitFastPathStateMachine<Answerer.Held>

    private let fastPath: Answerer
    /// How the connection closes after a 408 written while the body was still arriving.
    private let lingering: LingeringClose
    private var machine = Machine()
    /// The held request's body timer, while it runs.
    private var bodyTimer: Scheduled<Void>?
    private var date = HTTPDate()
    /// The connection's clock, told when an answer closes the connection (a ``PlainHitHandler`` in
    /// front answers nothing after it).
    private let clock: ConnectionClock?

    init(fastPath: Answerer, lingering: LingeringClose, clock: ConnectionClock? = nil) {
        self.fastPath = fastPath
        self.lingering = lingering
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action: Machine.Action
        switch unwrapInboundIn(data) {
        case .head(var head):
            // Only this handler marks a request as held whole (``HTTPField/Name/dejaBodyReceived``). Looked for
            // first: removing always would copy the fields of every request, hits included.
            if head.headers.contains(name: Self.bodyReceived) { head.headers.remove(name: Self.bodyReceived) }
            let lookedUp = clock?.lookedUp ?? false
            clock?.lookedUp = false
            action = machine.receivedHead(head) { lookedUp ? nil : fastPath.hold($0) }
        case .body(let part):
            action = machine.receivedBody(part)
        case .end(let trailers):
            action = machine.receivedEnd(trailers) { fastPath.answer($0) }
        }
        run(action, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        run(machine.readComplete(), context: context)
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { machine.routedResponseEnded() }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            run(machine.received(.quiesce), context: context)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            run(machine.received(.inputClosed), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        run(machine.read(writable: context.channel.isWritable), context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        run(machine.writabilityChanged(writable: context.channel.isWritable), context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.channelInactive(), context: context)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        run(machine.channelInactive(), context: context)
    }

    private func run(_ action: Machine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .forward(let part):
            context.fireChannelRead(wrapInboundOut(part))
        case .route(let held, let next, let events):
            cancelBodyTimer()
            var head = held.head
            if case .end = next { head.headers.add(name: Self.bodyReceived, value: "1") }
            context.fireChannelRead(wrapInboundOut(.head(head)))
            for part in held.parts {
                context.fireChannelRead(wrapInboundOut(.body(part)))
            }
            fire(events, context: context)
            context.fireChannelRead(wrapInboundOut(next))
        case .routeEnded(let held, let trailers, let next, let events):
            var head = held.head
            head.headers.add(name: Self.bodyReceived, value: "1")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            for part in held.parts {
                context.fireChannelRead(wrapInboundOut(.body(part)))
            }
            context.fireChannelRead(wrapInboundOut(.end(trailers)))
            fire(events, context: context)
            context.fireChannelRead(wrapInboundOut(next))
        case .lookUp(let id, let lookup):
            cancelBodyTimer()
            lookup(context.eventLoop).assumeIsolated().whenComplete { [self] result in
                let action = machine.lookedUp(id, (try? result.get()) ?? nil)
                run(action, context: context)
                // Parts passed on outside a read: the router takes what it was given at a read's end.
                if case .route = action { context.fireChannelReadComplete() }
            }
        case .startBodyTimer:
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .init(fastPath.bodyTimeout)) { [self] in
                self.bodyTimer = nil
                self.run(self.machine.bodyTimedOut(), context: context)
            }
        case .write(let answer, let version):
            cancelBodyTimer()
            write(answer, version: version, connection: nil, context: context)
        case .writeBodyTimedOut(let head):
            clock?.closing = true
            write(fastPath.bodyTimedOut(head), version: head.version,
                  connection: "close", context: context)
        case .dropHeld(let events):
            cancelBodyTimer()
            fire(events, context: context)
        case .fire(let events):
            fire(events, context: context)
        case .read:
            context.read()
        case .close:
            context.close(promise: nil)
        case .linger:
            context.close(mode: .output, promise: nil)
            lingering.begin(context)
        }
    }

    /// ``HTTPField/Name/dejaBodyReceived``: the whole request, held within the body timeout, follows.
    private static var bodyReceived: String { HTTPField.Name.dejaBodyReceived.rawName }

    private func cancelBodyTimer() {
        bodyTimer?.cancel()
        bodyTimer = nil
    }

    private func fire(_ events: [Machine.ConnectionEvent], context: ChannelHandlerContext) {
        for event in events {
            switch event {
            case .quiesce: context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            case .inputClosed: context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            }
        }
    }

    /// Writes an answer with the headers the router would send, and a `Connection` header when given.
    private func write(_ answer: TaskResponse, version: HTTPVersion, connection: String?, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(12)
        FastAnswerFields.forEach(of: answer, contentLength: answer.body.reduce(0) { $0 + $1.readableBytes }, date: date.now(),
                                 serverName: fastPath.serverName, connection: connection) { headers.add(name: $0, value: $1) }
        let head = HTTPResponseHead(version: version, status: .init(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        for part in answer.body {
            context.write(wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] _ in
            self.run(self.machine.answerWritten(), context: context)
        }
    }
}
