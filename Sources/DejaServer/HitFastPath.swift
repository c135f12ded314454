import DejaCore
import DejaGateway
import DejaLedger
import HummingbirdCore
import Logging
import Prometheus
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Answers repeats from the memory cache on the event loop, before a request reaches the router.
///
/// A cache hit is a lookup and a write; entering Swift concurrency for it (a task, a router, a response
/// writer) costs several times the work itself. So each HTTP/1 connection carries a ``HitFastPathHandler``
/// that holds a task request whose caller is already known, hashes its body as the parts arrive, and at
/// its end asks the gateway for a fresh memory answer
/// (``Gateway/cachedAnswer(task:caller:bodyDigest:cacheControl:)``). Found: the handler writes the
/// answer itself, with the headers the router would have sent, and records the hit (queued, billed 0).
/// Anything else — a miss, an unknown key, an `Idempotency-Key`, `Cache-Control: no-cache`, a priced
/// hit, a chunked body — goes to the router unchanged, parts as they came, so there is one meaning of
/// every request and this is only a shortcut to it.
struct HitFastPath: Sendable {
    /// A task route with what the fast path needs of it, made once.
    final class Route: Sendable {
        let task: TaskRuntime
        /// `deja_fast_path_hits_total{task}`: hits that never reached the router.
        let hits: Prometheus.Counter
        /// The memo digest prefix of a `shared` task (the same for every caller).
        let sharedPrefix: [UInt8]?

        init(task: TaskRuntime, registry: PrometheusCollectorRegistry) {
            self.task = task
            self.hits = registry.makeCounter(name: "deja_fast_path_hits_total", labels: [("task", task.policy.task)])
            self.sharedPrefix = task.policy.scope == .shared
                ? KeyMemo.BodyHasher.prefix(task: task.policy.task, scope: task.memoScope(tenant: "")) : nil
        }
    }

    /// Routes by exact path.
    let routes: [String: Route]
    let gateway: Gateway
    let authenticator: Authenticator
    let rateLimiter: RateLimiter?
    let maxBodyBytes: Int
    let bodyTimeout: Duration
    let bodyBudget: BodyBudget
    let serverName: String?

    /// Bodies up to this size are held without a reservation in the ``BodyBudget`` (one small
    /// body per connection at most); larger ones reserve their length like the router does.
    static let unbudgetedBodyBytes = 64 << 10

    init(
        tasks: [TaskRuntime], gateway: Gateway, authenticator: Authenticator, rateLimiter: RateLimiter?,
        maxBodyBytes: Int, bodyTimeout: Duration, bodyBudget: BodyBudget, serverName: String?,
        registry: PrometheusCollectorRegistry
    ) {
        self.bodyBudget = bodyBudget
        self.routes = Dictionary(tasks.map { ($0.route, Route(task: $0, registry: registry)) }, uniquingKeysWith: { first, _ in first })
        self.gateway = gateway
        self.authenticator = authenticator
        self.rateLimiter = rateLimiter
        self.maxBodyBytes = maxBodyBytes
        self.bodyTimeout = bodyTimeout
        self.serverName = serverName
    }

    /// A request the fast path may answer, while its body arrives.
    struct Held {
        var head: HTTPRequestHead
        var route: Route
        var caller: APIKeyInfo
        var cacheControl: String?
        var parts: [ByteBuffer] = []
        var hasher: KeyMemo.BodyHasher
        var timeout: Scheduled<Void>?
        /// The body's bytes in the ``BodyBudget``, returned when the request is answered or handed on.
        var reservation: BodyBudget.Reservation?
    }

    /// Whether the request starting with `head` may be a fast hit; `nil` sends it to the router.
    ///
    /// Only plain requests qualify: a known task route, one declared body length within the limit, a
    /// bearer key remembered as valid, and nothing that changes the path (idempotency, `Expect`).
    func hold(_ head: HTTPRequestHead) -> Held? {
        guard head.method == .POST, let route = routes[head.uri] else { return nil }
        // One pass over the headers; any header that needs the router's judgement declines.
        var declared: Int?
        var authorization: String?
        var cacheControl: String?
        for (name, value) in head.headers {
            switch name.utf8.count {
            case 14 where name.equalsIgnoringASCIICase("content-length"):
                guard declared == nil, let length = Int(value) else { return nil }
                declared = length
            case 13 where name.equalsIgnoringASCIICase("authorization"):
                guard authorization == nil else { return nil }
                authorization = value
            case 13 where name.equalsIgnoringASCIICase("cache-control"):
                cacheControl = cacheControl.map { "\($0), \(value)" } ?? value
            case 17 where name.equalsIgnoringASCIICase("transfer-encoding"),
                 6 where name.equalsIgnoringASCIICase("expect"),
                 15 where name.equalsIgnoringASCIICase("idempotency-key"):
                return nil
            default:
                continue
            }
        }
        guard let declared, declared > 0, declared <= maxBodyBytes,
              let secret = TaskController<DejaRequestContext>.bearerToken(authorization),
              let caller = authenticator.remembered(secret: secret)
        else { return nil }
        let prefix = route.sharedPrefix
            ?? KeyMemo.BodyHasher.prefix(task: route.task.policy.task, scope: route.task.memoScope(tenant: caller.tenant))
        var reservation: BodyBudget.Reservation?
        if declared > Self.unbudgetedBodyBytes {
            // No room: the router answers the refusal.
            guard let reserved = try? bodyBudget.reserve(declared, keyID: caller.id) else { return nil }
            reservation = reserved
        }
        var held = Held(head: head, route: route, caller: caller, cacheControl: cacheControl, hasher: KeyMemo.BodyHasher(prefix: prefix),
                        reservation: reservation)
        held.parts.reserveCapacity(4)
        return held
    }

    /// The answer to a held request, or `nil` when the router must answer it.
    func answer(_ held: Held) -> TaskResponse? {
        let task = held.route.task
        guard let hit = gateway.cachedAnswer(task: task, caller: held.caller, bodyDigest: held.hasher.finalize(),
                                             cacheControl: CacheControl(header: held.cacheControl))
        else { return nil }
        if let rateLimiter, let wait = rateLimiter.take(held.caller.id) {
            return TaskController<DejaRequestContext>.rateLimited(wait: wait, limiter: rateLimiter, task: task)
        }
        held.route.hits.increment()
        return gateway.answer(hit, task: task, caller: held.caller)
    }
}

extension String {
    /// Whether this string equals `lowercase` (all lowercase ASCII) ignoring ASCII case.
    fileprivate func equalsIgnoringASCIICase(_ lowercase: StaticString) -> Bool {
        let other = UnsafeBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        guard utf8.count == other.count else { return false }
        return zip(utf8, other).allSatisfy { byte, lower in
            byte == lower || (byte >= 0x41 && byte <= 0x5A && byte | 0x20 == lower)
        }
    }
}

/// The per-connection half of ``HitFastPath``: sits right after HTTP/1 parsing, before the router.
///
/// Order is kept: while a request handed to the router has not finished its response, later requests
/// on the connection go to the router too (HTTP/1.1 pipelining answers in order). The connection's
/// lifetime stays Hummingbird's: a graceful-shutdown quiesce or a half-closed input waits until the
/// held request is answered and the fast answers are written, then goes on to Hummingbird's handler.
/// Reads pause while the socket is not writable, so a client that sends requests without reading the
/// answers cannot make answers pile up in memory.
final class HitFastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let fastPath: HitFastPath
    /// The request being held, its body parts hashed as they come; `nil` when none is.
    private var held: HitFastPath.Held?
    /// Whether the parts of the current request pass through to the router.
    private var passing = false
    /// Requests handed to the router whose response has not ended yet.
    private var routed = 0
    /// Fast answers whose last write has not completed yet.
    private var writing = 0
    /// Connection events held back until the held request is answered and `writing` is 0.
    private var deferredEvents: [Any] = []
    /// After an answer that closes the connection, nothing more is read or routed.
    private var closing = false
    /// A read asked for while the socket was not writable; issued once it is.
    private var readPending = false
    private var date = HTTPDate()

    init(fastPath: HitFastPath) {
        self.fastPath = fastPath
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing { return }  // the connection is closing after an answer: no more requests on it
        let part = unwrapInboundIn(data)
        if passing {
            if case .end = part { passing = false }
            context.fireChannelRead(data)
            return
        }
        switch part {
        case .head(let head):
            if held == nil, routed == 0, let candidate = fastPath.hold(head) {
                held = candidate  // the body timer starts only if the body is not all in this read
            } else {
                if held != nil { route(context: context) }  // a head inside a held request: let the router judge
                routed += 1
                passing = true
                context.fireChannelRead(data)
            }
        case .body(let buffer):
            guard held != nil else {
                context.fireChannelRead(data)  // out of order: the router reports it
                return
            }
            held!.hasher.update(buffer)
            held!.parts.append(buffer)
        case .end:
            guard let request = held else {
                context.fireChannelRead(data)
                return
            }
            request.timeout?.cancel()
            if let answer = fastPath.answer(request) {
                held = nil
                write(answer, version: request.head.version, context: context, close: !request.head.isKeepAlive, announce: false)
            } else {
                route(context: context)
                context.fireChannelRead(data)
                passing = false
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // A held body still arriving: from now on it has `server.bodyTimeoutSeconds` to finish. Most
        // requests arrive whole in one read and never need the timer.
        if held != nil, held!.timeout == nil {
            held!.timeout = context.eventLoop.assumeIsolated().scheduleTask(in: .init(fastPath.bodyTimeout)) { [self] in
                self.bodyTimedOut(context: context)
            }
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routed = max(0, routed - 1) }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        let quiesce = event is ChannelShouldQuiesceEvent
        let inputClosed = (event as? ChannelEvent) == .inputClosed
        guard quiesce || inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if inputClosed, held != nil {
            // The held request's body can never complete: drop it; the router sees the input close.
            held?.timeout?.cancel()
            held = nil
        }
        if held != nil || writing > 0 {
            deferredEvents.append(event)  // Hummingbird would close the connection under our answer
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, readPending {
            readPending = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Passes on the connection events held back, once nothing of ours is in flight.
    private func releaseDeferredEvents(context: ChannelHandlerContext) {
        guard held == nil, writing == 0, !deferredEvents.isEmpty else { return }
        let events = deferredEvents
        deferredEvents.removeAll()
        for event in events { context.fireUserInboundEventTriggered(event) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        held?.timeout?.cancel()
        held = nil
        deferredEvents.removeAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        held?.timeout?.cancel()
        held = nil
    }

    /// Hands the held request to the router: its head and the body parts so far, as they came.
    private func route(context: ChannelHandlerContext) {
        guard let request = held else { return }
        held = nil
        request.timeout?.cancel()
        routed += 1
        passing = true
        context.fireChannelRead(wrapInboundOut(.head(request.head)))
        for part in request.parts {
            context.fireChannelRead(wrapInboundOut(.body(part)))
        }
        // The router has the request now; Hummingbird handles a quiesce around its response.
        releaseDeferredEvents(context: context)
    }

    /// A held body that is too slow: 408, as the router answers it, and the connection closes.
    private func bodyTimedOut(context: ChannelHandlerContext) {
        guard let request = held else { return }
        held = nil
        write(TaskController<DejaRequestContext>.bodyTimedOut(fastPath.bodyTimeout, task: request.route.task), version: request.head.version,
              context: context, close: true, announce: true)
    }

    /// Writes an answer; with `close`, closes the connection after it, saying so in a `Connection`
    /// header when `announce` (the router does not repeat a client's own `Connection: close`).
    private func write(_ answer: TaskResponse, version: HTTPVersion, context: ChannelHandlerContext, close: Bool, announce: Bool) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(12)
        TaskController<DejaRequestContext>.forEachField(of: answer) { headers.add(name: $0.rawName, value: $1) }
        headers.add(name: "Content-Length", value: String(answer.body.reduce(0) { $0 + $1.readableBytes }))
        headers.add(name: "Date", value: date.now())
        if let serverName = fastPath.serverName { headers.add(name: "Server", value: serverName) }
        if close && announce { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: .init(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        for part in answer.body {
            context.write(wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
        }
        if close { closing = true }
        writing += 1
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] _ in
            self.writing -= 1
            if close {
                context.close(promise: nil)
            } else {
                self.releaseDeferredEvents(context: context)
            }
        }
    }
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted at most once a second per connection.
struct HTTPDate {
    private var second = -1
    private var text = ""

    mutating func now() -> String {
        let seconds = time(nil)
        if seconds != second {
            second = seconds
            text = Self.format(seconds)
        }
        return text
    }

    static func format(_ seconds: Int) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        gmtime_r(&clock, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
