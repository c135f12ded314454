import DejaCore
import Logging
import NIOCore
import NIOHTTP1
import Tracing

/// Calls a task's model servers: through the task's limiter, past inputs that just failed, over the
/// servers whose breakers let it through, and reads the reply in the task's protocol.
struct ModelCaller: Sendable {
    let upstream: UpstreamClient
    /// Inputs the model failed on (5xx), not sent again for the task's failure TTL.
    let failures: FailureMemory
    let clock: WallClock
    /// Each call is a `deja.model_call` client span when tracing is on, whose `traceparent` goes with
    /// the request so the model server can join the trace.
    let tracer: RequestTracer

    /// What a call came to.
    enum Reply: Sendable {
        /// The model answered, in `seconds`.
        case answer(ModelAnswer, seconds: Double)
        /// The model rejected the input: `error` is the client's; `remembered`, when the protocol
        /// stores such rejections, is the entry to keep for the task's negative TTL.
        case rejected(GatewayError, remembered: CacheEntry?)
    }

    /// Refuses an input the model failed on a moment ago: its repeats cost nobody anything.
    func refuseRecentFailure(_ key: CacheKey) throws(GatewayError) {
        let now = clock.now()
        guard let failed = failures.failure(for: key, at: now) else { return }
        let wait = max(1, Int((failed.until - now).rounded(.up)))
        throw GatewayError(
            .upstreamFailed,
            "the model server failed on this very input a moment ago (status \(failed.status)); it is not sent again for \(wait) s",
            status: 502, retryAfter: wait)
    }

    /// Sends `forward` for `key` on behalf of `tenant`; throws when the model could not answer.
    func call(_ task: TaskRuntime, key: CacheKey, forward: [UInt8], tenant: String) async throws(GatewayError) -> Reply {
        guard let tracer = tracer.tracer else { return try await call(task, key: key, forward: forward, tenant: tenant, span: nil, headers: nil) }
        return try await self.tracer.span(SpanName.modelCall, ofKind: .client) { span async throws(GatewayError) -> Reply in
            var headers = HTTPHeaders()
            tracer.inject(ServiceContext.current ?? .topLevel, into: &headers, using: TraceHeadersInjector())
            span?.updateAttributes { attributes in
                attributes[TraceAttribute.task] = task.policy.task
                attributes[TraceAttribute.modelVersion] = task.policy.modelVersion
                attributes[TraceAttribute.httpMethod] = "POST"
            }
            return try await call(task, key: key, forward: forward, tenant: tenant, span: span, headers: headers)
        }
    }

    private func call(
        _ task: TaskRuntime, key: CacheKey, forward: [UInt8], tenant: String, span: (any Span)?, headers: HTTPHeaders?
    ) async throws(GatewayError) -> Reply {
        try await acquire(task, tenant: tenant)
        defer { task.limiter.release(tenant: tenant) }
        let reply = try await post(task, forward: forward, tenant: tenant, span: span, headers: headers)
        span?.attributes[TraceAttribute.httpStatus] = reply.status
        switch task.taskProtocol.read(status: reply.status, body: reply.body) {
        case .answer(let answer):
            return .answer(answer, seconds: reply.seconds)
        case .rejected(let status, let message, let stored):
            // The model's own words, as a drop-in client expects them.
            let error = GatewayError(.upstreamRejected, message, status: status)
            let ttl = task.freshness.negativeTTL
            guard ttl > 0, let stored else { return .rejected(error, remembered: nil) }
            let at = clock.now()
            let entry = CacheEntry(body: stored, status: status, modelVersion: task.policy.modelVersion, meteredTokens: 0,
                                   upstreamSeconds: reply.seconds, createdAt: at, expiresAt: at + ttl)
            return .rejected(error, remembered: entry)
        case .refused(let status, let message):
            throw GatewayError(.upstreamRejected, message, status: status)
        case .failed(let message):
            if reply.status >= 500, task.freshness.failureTTL > 0 {
                failures.remember(key, status: reply.status, until: clock.now() + task.freshness.failureTTL)
            }
            throw GatewayError(.upstreamFailed, message, status: 502)
        }
    }

    /// Sends `forward` to `task`'s model servers for a gray release's shadow comparison: through the
    /// task's limiter and breakers like any call, but a failure is not remembered against the input
    /// (whose stable version answered). `nil` when the model did not answer.
    func shadowCall(_ task: TaskRuntime, forward: [UInt8]) async throws(GatewayError) -> ModelAnswer? {
        let tenant = GrayRelease.shadowTenant
        try await acquire(task, tenant: tenant)
        defer { task.limiter.release(tenant: tenant) }
        let reply = try await post(task, forward: forward, tenant: tenant, span: nil, headers: nil)
        guard case .answer(let answer) = task.taskProtocol.read(status: reply.status, body: reply.body) else { return nil }
        return answer
    }

    /// A place in `task`'s limiter, or the client's 503 when its queue is full.
    private func acquire(_ task: TaskRuntime, tenant: String) async throws(GatewayError) {
        do {
            try await task.limiter.acquire(tenant: tenant)
        } catch {
            throw GatewayError(.overloaded, "too many requests are waiting for the model server; retry shortly", retryAfter: 1)
        }
    }

    /// Posts to one of the task's model servers: the first whose breaker lets it through, in balancing
    /// order. A server that cannot be reached is skipped for the next (the request never reached it, so
    /// trying another is safe); a timeout or a server error is the answer. All breakers open: 503 with
    /// the shortest wait.
    ///
    /// A timeout or a 5xx is charged to `tenant` in the breaker: failures from one tenant alone do not
    /// open it (see ``CircuitBreaker``). An unreachable server is nobody's doing and always counts.
    private func post(
        _ task: TaskRuntime, forward: [UInt8], tenant: String, span: (any Span)?, headers: HTTPHeaders?
    ) async throws(GatewayError) -> UpstreamReply {
        var shortestWait: Double?
        var unreachable: GatewayError?
        for server in task.upstreams.candidates() {
            if case .reject(let wait) = server.breaker.decide() {
                shortestWait = min(shortestWait ?? wait, wait)
                continue
            }
            if let span { Self.recordServer(server.url, on: span) }
            let reply: UpstreamReply
            do {
                reply = try await upstream.postJSON(url: server.url, body: forward, timeout: task.timeout, headers: headers)
            } catch {
                if error.isConnectionFailure {
                    server.breaker.record(success: false)
                    unreachable = error
                    continue
                }
                server.breaker.record(success: false, source: tenant)
                throw error
            }
            server.breaker.record(success: reply.status < 500, source: tenant)
            return reply
        }
        if let unreachable { throw unreachable }
        let seconds = max(1, Int((shortestWait ?? 1).rounded(.up)))
        throw GatewayError(
            .upstreamUnavailable,
            "the model server is failing, so Deja stopped sending it requests for a while (circuit open); retry after \(seconds) s",
            retryAfter: seconds
        )
    }

    /// Asks a model server that is up for `path` on it (the page memo's render-only call); the answer's
    /// bytes when it is a 200, `nil` otherwise. Never charged to a breaker: a server without the route
    /// (404) is not failing, and the request goes on to the model either way.
    func ask(_ task: TaskRuntime, path: String, body: [UInt8]) async -> [UInt8]? {
        guard let server = task.upstreams.candidates().first(where: \.isUp),
              let (scheme, authority) = Self.origin(of: server.url)
        else { return nil }
        let url = scheme + "://" + authority + path
        guard let reply = try? await upstream.postJSON(url: url, body: body, timeout: task.timeout), reply.status == 200
        else { return nil }
        return Array(buffer: reply.body)
    }

    /// The scheme and the authority (user, host, port) of `url`; `nil` without `://`.
    private static func origin(of url: String) -> (scheme: Substring, authority: Substring)? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        return (url[..<schemeEnd.lowerBound], url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }

    /// The model server a call went to, by host and port: no path, no user or password.
    private static func recordServer(_ url: String, on span: any Span) {
        guard let (_, authority) = origin(of: url) else { return }
        var host = authority.split(separator: "@").last ?? authority
        var port = url.hasPrefix("https:") ? 443 : 80
        if let colon = host.lastIndex(of: ":"), !host[colon...].contains("]"), let number = Int(host[host.index(after: colon)...]) {
            port = number
            host = host[..<colon]
        }
        span.updateAttributes { attributes in
            attributes[TraceAttribute.serverAddress] = String(host)
            attributes[TraceAttribute.serverPort] = port
        }
    }
}

/// Writes a span's context into the headers of a model call (`traceparent`).
struct TraceHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
