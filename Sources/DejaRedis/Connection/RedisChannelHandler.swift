import Logging
import NIOCore

/// Matches replies to requests in order, enforces per-command timeouts and routes pushes to subscriptions.
///
/// Runs on the channel's event loop only. Bytes are decoded with ``RESPToken/init(consuming:limits:)``; on a
/// protocol error every pending command fails and the channel is closed.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private enum Expectation {
        /// An ordinary reply.
        case reply
        /// `subscribe`/`unsubscribe` push confirmations still to come.
        case confirmations(kind: String, remaining: Int)
    }

    private struct Pending {
        var id: UInt64
        var expectation: Expectation
        /// `nil` once the command timed out: its reply is read and dropped, keeping the order intact.
        var promise: EventLoopPromise<RESPToken>?
        var subscribePromise: EventLoopPromise<Void>?
        var timeout: Scheduled<Void>?
    }

    private let limits: RESPLimits
    private let logger: Logger
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var nextID: UInt64 = 0
    private var buffer = ByteBuffer()
    private var context: ChannelHandlerContext?
    private var failure: RedisError?

    /// Subscription id → continuation, and channel → ids listening to it.
    private var subscriptions: [Int: RedisSubscription.Continuation] = [:]
    private var listeners: [String: Set<Int>] = [:]

    init(limits: RESPLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.closed)
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(.wrap(error, code: .connectionClosed, message: "the connection failed"))
        context.close(promise: nil)
    }

    // MARK: Writing

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let failure {
            failRequest(request, failure)
            promise?.fail(failure)
            return
        }
        switch request.operation {
        case .commands(let promises):
            for commandPromise in promises {
                enqueue(.reply, promise: commandPromise, subscribePromise: nil, timeout: request.timeout, context: context)
            }
        case .subscribe(let id, let channels, let continuation, let subscribePromise):
            subscriptions[id] = continuation
            for channel in channels { listeners[channel, default: []].insert(id) }
            enqueue(
                .confirmations(kind: "subscribe", remaining: channels.count), promise: nil,
                subscribePromise: subscribePromise, timeout: request.timeout, context: context
            )
        case .unsubscribe(let id):
            promise?.succeed()
            removeSubscription(id, context: context)
            return
        }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    private func enqueue(
        _ expectation: Expectation, promise: EventLoopPromise<RESPToken>?, subscribePromise: EventLoopPromise<Void>?,
        timeout: TimeAmount?, context: ChannelHandlerContext
    ) {
        let id = nextID
        nextID &+= 1
        var entry = Pending(id: id, expectation: expectation, promise: promise, subscribePromise: subscribePromise)
        if let timeout {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            entry.timeout = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.timedOut(id) }
        }
        pending.append(entry)
    }

    private func timedOut(_ id: UInt64) {
        guard let index = pending.firstIndex(where: { $0.id == id }) else { return }
        let error = RedisError(code: .timeout, message: "no reply within the command timeout")
        pending[index].promise?.fail(error)
        pending[index].promise = nil
        pending[index].subscribePromise?.fail(error)
        pending[index].subscribePromise = nil
    }

    private func removeSubscription(_ id: Int, context: ChannelHandlerContext) {
        guard subscriptions.removeValue(forKey: id) != nil else { return }
        var abandoned: [String] = []
        for (channel, ids) in listeners where ids.contains(id) {
            if ids.count == 1 {
                listeners[channel] = nil
                abandoned.append(channel)
            } else {
                listeners[channel]?.remove(id)
            }
        }
        guard !abandoned.isEmpty, failure == nil else { return }
        var encoder = RESPCommandEncoder()
        encoder.encode(["UNSUBSCRIBE"] + abandoned.map { .string($0) })
        enqueue(
            .confirmations(kind: "unsubscribe", remaining: abandoned.count), promise: nil, subscribePromise: nil,
            timeout: nil, context: context
        )
        context.writeAndFlush(wrapOutboundOut(encoder.buffer), promise: nil)
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer.readableBytes == 0 {
            buffer = incoming
        } else {
            buffer.writeBuffer(&incoming)
        }
        do {
            while let token = try RESPToken(consuming: &buffer, limits: limits) {
                try handle(token, context: context)
            }
        } catch {
            let redisError = RedisError.wrap(error, code: .protocolError, message: "malformed reply")
            logger.error("closing the connection after a protocol error", metadata: ["redis.error": "\(redisError)"])
            failAll(redisError)
            context.close(promise: nil)
            return
        }
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 64 * 1024 {
            buffer.discardReadBytes()
        }
    }

    private func handle(_ token: RESPToken, context: ChannelHandlerContext) throws(RedisError) {
        switch token.value {
        case .attribute:
            return  // out-of-band metadata about the next reply; not a reply itself
        case .push(let elements):
            try handlePush(Array(elements), token: token)
        default:
            guard let head = pending.popFirst() else { throw .protocolError("a reply arrived with no command waiting") }
            head.timeout?.cancel()
            switch head.expectation {
            case .reply:
                head.promise?.succeed(token)
            case .confirmations:
                // An error in place of pub/sub confirmations (e.g. no permission).
                let error: RedisError = token.errorText.map { .server($0) } ?? .unexpected("expected a pub/sub confirmation")
                head.subscribePromise?.fail(error)
            }
        }
    }

    private func handlePush(_ elements: [RESPToken], token: RESPToken) throws(RedisError) {
        guard let kind = elements.first.flatMap({ try? $0.string() })?.lowercased() else {
            throw .protocolError("push without a kind")
        }
        switch kind {
        case "message" where elements.count == 3:
            let channel = try elements[1].string()
            let payload = try elements[2].bytes() ?? ByteBuffer()
            for id in listeners[channel] ?? [] {
                subscriptions[id]?.yield(RedisPushMessage(channel: channel, payload: payload))
            }
        case "subscribe", "unsubscribe":
            guard let index = pending.firstIndex(where: {
                if case .confirmations(kind, _) = $0.expectation { return true } else { return false }
            }) else {
                return  // a confirmation for an unsubscribe we did not track; harmless
            }
            guard case .confirmations(_, let remaining) = pending[index].expectation else { return }
            if remaining > 1 {
                pending[index].expectation = .confirmations(kind: kind, remaining: remaining - 1)
            } else {
                let entry = pending.remove(at: index)
                entry.timeout?.cancel()
                entry.subscribePromise?.succeed()
            }
        default:
            logger.debug("ignoring a push", metadata: ["redis.push": "\(kind)"])
        }
    }

    // MARK: Failing

    private func failAll(_ error: RedisError) {
        if failure == nil { failure = error }
        while let entry = pending.popFirst() {
            entry.timeout?.cancel()
            entry.promise?.fail(error)
            entry.subscribePromise?.fail(error)
        }
        let open = subscriptions
        subscriptions = [:]
        listeners = [:]
        for continuation in open.values { continuation.finish(throwing: error) }
    }

    private func failRequest(_ request: RedisRequest, _ error: RedisError) {
        switch request.operation {
        case .commands(let promises): for promise in promises { promise.fail(error) }
        case .subscribe(_, _, let continuation, let promise):
            promise.fail(error)
            continuation.finish(throwing: error)
        case .unsubscribe: break
        }
    }
}
