import DejaCore
import DejaGateway
import DejaLedger
import Prometheus
import NIOCore
import NIOHTTP1
import Tracing

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
        /// `deja_plain_answers_total{task}`: answers written straight from the request's bytes
        /// (``PlainHitHandler``), hits and rate-limit refusals.
        let plainAnswers: Prometheus.Counter
        /// The memo digest prefix of a `shared` task (the same for every caller).
        let sharedPrefix: [UInt8]?

        /// A body hasher for `caller`'s requests on this route.
        func bodyHasher(for caller: APIKeyInfo) -> KeyMemo.BodyHasher {
            KeyMemo.BodyHasher(prefix: sharedPrefix
                ?? KeyMemo.BodyHasher.prefix(task: task.policy.task, scope: task.memoScope(tenant: caller.tenant)))
        }

        init(task: TaskRuntime, registry: PrometheusCollectorRegistry) {
            self.task = task
            self.hits = registry.makeCounter(name: "deja_fast_path_hits_total", labels: [("task", task.policy.task)])
            self.plainAnswers = registry.makeCounter(name: "deja_plain_answers_total", labels: [("task", task.policy.task)])
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
    /// A `deja.request` span for each request answered here, when tracing is on.
    let tracer: RequestTracer
    /// Whether connections answer plain repeats from their bytes (``PlainHitHandler``): on with
    /// `server.plainHits`, unless tracing is on (its spans continue the client's trace headers).
    let plainHits: Bool

    /// Bodies up to this size are held without a reservation in the ``BodyBudget`` (one small
    /// body per connection at most); larger ones reserve their length like the router does.
    static let unbudgetedBodyBytes = 64 << 10

    init(
        tasks: [TaskRuntime], gateway: Gateway, authenticator: Authenticator, rateLimiter: RateLimiter?,
        maxBodyBytes: Int, bodyTimeout: Duration, bodyBudget: BodyBudget, serverName: String?,
        registry: PrometheusCollectorRegistry, tracer: RequestTracer = .off, plainHits: Bool = true
    ) {
        self.tracer = tracer
        self.plainHits = plainHits && !tracer.isOn
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
        /// The body's bytes in the ``BodyBudget``, returned when the request is answered or handed on.
        var reservation: BodyBudget.Reservation?
        /// When the head arrived, for the request's span; `nil` when tracing is off.
        var arrived: DefaultTracerClock.Instant?
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
        guard let declared, declared > 0, declared <= maxBodyBytes, let caller = caller(authorization: authorization) else { return nil }
        var reservation: BodyBudget.Reservation?
        if declared > Self.unbudgetedBodyBytes {
            // No room: the router answers the refusal.
            guard let reserved = try? bodyBudget.reserve(declared, keyID: caller.id) else { return nil }
            reservation = reserved
        }
        var held = Held(head: head, route: route, caller: caller, cacheControl: cacheControl, hasher: route.bodyHasher(for: caller),
                        reservation: reservation, arrived: tracer.isOn ? DefaultTracerClock.now : nil)
        held.parts.reserveCapacity(4)
        return held
    }

    /// What to do with a held request: its answer from the memory tier; a lookup in the shared store when
    /// the body was seen before and the memory tier does not hold its answer; else the router.
    func answer(_ held: Held) -> FastAnswer {
        answer(bodyDigest: held.hasher.finalize(), cacheControl: CacheControl(header: held.cacheControl),
               answering: Answering(fastPath: self, held: held))
    }

    /// What to do with a plain request whose bytes have all arrived (``PlainHitHandler``), when
    /// ``hold(_:)`` would have held it: as ``answer(_:)``; `.route` leaves the request to the HTTP/1 path.
    func answer(plain head: PlainRequestHead, in bytes: UnsafeRawBufferPointer) -> FastAnswer {
        guard head.contentLength > 0, head.contentLength <= min(maxBodyBytes, Self.unbudgetedBodyBytes),
              let route = routes[String(decoding: UnsafeRawBufferPointer(rebasing: bytes[head.target]), as: UTF8.self)],
              let caller = caller(authorization: head.authorization.map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) })
        else { return .route }
        let cacheControl = CacheControl(header: head.cacheControl.map { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0]), as: UTF8.self) })
        var hasher = route.bodyHasher(for: caller)
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[head.bodyStart..<head.end]))
        return answer(bodyDigest: hasher.finalize(), cacheControl: cacheControl,
                      answering: Answering(fastPath: self, route: route, caller: caller, headers: [:], arrived: nil, plain: true))
    }

    /// The memory tier's answer to `bodyDigest`; else one lookup in the shared store when the body was seen
    /// before — a GET written from the connection's event loop when a connection of the store is open
    /// there, else the store's own way — completing on that loop; else `.route`.
    private func answer(bodyDigest: CacheKey, cacheControl: CacheControl, answering: Answering) -> FastAnswer {
        let task = answering.route.task, caller = answering.caller
        if let hit = gateway.cachedAnswer(task: task, caller: caller, bodyDigest: bodyDigest, cacheControl: cacheControl) {
            return .answer(answering.respond(hit, layer: "l1"))
        }
        guard gateway.mayHaveStoredAnswer(bodyDigest: bodyDigest, cacheControl: cacheControl) else { return .route }
        return .lookUp { [gateway] eventLoop in
            let found = gateway.storedAnswerNow(task: task, caller: caller, bodyDigest: bodyDigest, cacheControl: cacheControl, on: eventLoop)
                ?? eventLoop.makeFutureWithTask {
                    await gateway.storedAnswer(task: task, caller: caller, bodyDigest: bodyDigest, cacheControl: cacheControl)
                }
            return found.map { hit in hit.map { answering.respond($0, layer: "l2") } }
        }
    }

    /// The caller of a bearer `authorization` the authenticator remembers as valid; `nil` sends the
    /// request to the router, which judges it.
    private func caller(authorization: String?) -> APIKeyInfo? {
        TaskController<DejaRequestContext>.bearerToken(authorization).flatMap { authenticator.remembered(secret: $0) }
    }

    /// Answers a hit found for a held request; what it needs of the request, without its body parts.
    private struct Answering: Sendable {
        let fastPath: HitFastPath
        let route: Route
        let caller: APIKeyInfo
        let headers: HTTPHeaders
        let arrived: DefaultTracerClock.Instant?
        /// Whether the answer is written from the request's bytes (``PlainHitHandler``): counted in `plainAnswers`.
        let plain: Bool

        init(fastPath: HitFastPath, held: Held) {
            self.init(fastPath: fastPath, route: held.route, caller: held.caller, headers: held.head.headers, arrived: held.arrived, plain: false)
        }

        init(fastPath: HitFastPath, route: Route, caller: APIKeyInfo, headers: HTTPHeaders, arrived: DefaultTracerClock.Instant?, plain: Bool) {
            self.fastPath = fastPath
            self.route = route
            self.caller = caller
            self.headers = headers
            self.arrived = arrived
            self.plain = plain
        }

        /// The hit's answer, or the rate limiter's refusal; counted, and traced as found in `layer`.
        func respond(_ hit: Gateway.MemoryHit, layer: String) -> TaskResponse {
            let task = route.task
            if plain { route.plainAnswers.increment() }
            let answer: TaskResponse
            if let rateLimiter = fastPath.rateLimiter, let wait = rateLimiter.take(caller.id) {
                answer = TaskController<DejaRequestContext>.rateLimited(wait: wait, limiter: rateLimiter, task: task)
            } else {
                route.hits.increment()
                answer = fastPath.gateway.answer(hit, task: task, caller: caller)
            }
            if let arrived { fastPath.trace(answer, task: task, headers: headers, arrived: arrived, layer: layer) }
            return answer
        }
    }

    /// The `deja.request` span of a request answered here: from its head to its answer, continuing the
    /// client's trace; no child spans (the memo and one tier answered it in one step).
    fileprivate func trace(_ answer: TaskResponse, task: TaskRuntime, headers: HTTPHeaders, arrived: DefaultTracerClock.Instant, layer: String) {
        guard let span = tracer.startRequestSpan(task: task, headers: headers, using: HTTPHeadersTraceExtractor(), at: arrived)
        else { return }
        span.updateAttributes { attributes in
            attributes[TraceAttribute.fastPath] = true
            attributes[TraceAttribute.cacheLayer] = layer
        }
        answer.record(on: span)
        span.end()
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
