import DejaCore
import DejaGateway
import DejaLedger
import HTTPTypes
import Hummingbird
import Tracing

/// The drop-in task routes: one `POST` per configured task, speaking the upstream's own protocol.
struct TaskController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let gateway: Gateway
    let authenticator: Authenticator
    let rateLimiter: RateLimiter?
    let maxBodyBytes: Int
    let bodyTimeout: Duration
    let bodyBudget: BodyBudget
    /// Whether the fast path's handler runs in front of the router: then a request it marks as held
    /// whole (``HTTPField/Name/dejaBodyReceived``) is read without a timer, its body already here.
    var fastPathInFront = false
    /// A `deja.request` span per request when tracing is on.
    var tracer: RequestTracer = .off

    func addRoutes(to router: Router<Context>) {
        for task in tasks {
            router.post(RouterPath(task.route)) { request, _ in
                await self.handle(request, task: task)
            }
        }
    }

    func handle(_ request: Request, task: TaskRuntime) async -> Response {
        guard let span = tracer.startRequestSpan(task: task, headers: request.headers, using: HTTPFieldsTraceExtractor()) else {
            return Self.response(await answer(request, task: task))
        }
        defer { span.end() }
        let answer = await ServiceContext.$current.withValue(span.context) { await self.answer(request, task: task) }
        answer.record(on: span)
        return Self.response(answer)
    }

    /// The answer to one task request: who asks, what they sent, and the gateway's answer to it.
    func answer(_ request: Request, task: TaskRuntime) async -> TaskResponse {
        // Who is asking.
        guard let secret = Self.bearerToken(request.headers[.authorization]) else {
            return Self.errorAnswer(401, "missing API key: send the header 'Authorization: Bearer <api key>'", task: task)
        }
        let caller: APIKeyInfo
        do {
            guard let info = try await authenticator.authenticate(secret: secret) else {
                return Self.errorAnswer(401, "unknown or revoked API key; create one with 'deja keys create --tenant <name>'", task: task)
            }
            caller = info
        } catch {
            return Self.errorAnswer(503, "the key store is unavailable; retry shortly", task: task)
        }

        if let rateLimiter, let wait = rateLimiter.take(caller.id) {
            return Self.rateLimited(wait: wait, limiter: rateLimiter, task: task)
        }

        // What they sent, within the limits of size and time.
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > maxBodyBytes {
            return Self.errorAnswer(413, "request body of \(declared) bytes is over the limit of \(maxBodyBytes) bytes (server.maxBodyBytes)", task: task)
        }
        // Room for the body among all bodies in memory; a body of unknown length may take the limit.
        let reservation: BodyBudget.Reservation
        do {
            reservation = try bodyBudget.reserve(declared ?? maxBodyBytes, keyID: caller.id)
        } catch {
            return Self.bodyBudgetRefused(error, budget: bodyBudget, task: task)
        }
        defer { reservation.release() }
        let body: ByteBuffer
        do {
            if fastPathInFront, request.headers[.dejaBodyReceived] != nil {
                // Every part is in the channel's buffer: read at once, no timer (and no tasks) needed.
                var request = request
                body = try await request.collectBody(upTo: maxBodyBytes)
            } else {
                body = try await Self.collect(request, upTo: maxBodyBytes, within: bodyTimeout)
            }
        } catch is BodyTimeout {
            return Self.bodyTimedOut(bodyTimeout, task: task)
        } catch {
            return Self.errorAnswer(413, "request body is over the limit of \(maxBodyBytes) bytes (server.maxBodyBytes)", task: task)
        }
        if body.readableBytes == 0 {
            let error = task.taskProtocol.requestError(CanonicalError(.emptyBody, path: "$", message: "the body is empty"), body: body)
            var answer = Self.errorAnswer(error.status, error.message, task: task)
            answer.detail = error.detail
            return answer
        }

        let idempotencyKey = request.headers[.idempotencyKey]
        if let idempotencyKey, idempotencyKey.isEmpty || idempotencyKey.utf8.count > 255
            || !idempotencyKey.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) {
            return Self.errorAnswer(400, "Idempotency-Key must be 1 to 255 visible ASCII characters", task: task)
        }
        return await gateway.handle(
            task: task, caller: caller, body: body,
            cacheControl: CacheControl(header: request.headers[.cacheControl]), idempotencyKey: idempotencyKey
        )
    }

    struct BodyTimeout: Error {}

    /// Reads the whole body, failing with `BodyTimeout` if it takes longer than `timeout` (slow clients).
    static func collect(_ request: Request, upTo limit: Int, within timeout: Duration) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                var request = request
                return try await request.collectBody(upTo: limit)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else { throw BodyTimeout() }
            return body
        }
    }

    /// The HTTP form of a gateway answer, with Deja's headers.
    static func response(_ answer: TaskResponse) -> Response {
        Response(status: HTTPResponse.Status(code: answer.status), headers: fields(answer), body: Self.body(answer.body))
    }

    /// Deja's headers for an answer.
    static func fields(_ answer: TaskResponse) -> HTTPFields {
        var headers = HTTPFields()
        headers.reserveCapacity(8)
        forEachField(of: answer) { headers.append(HTTPField(name: $0, value: $1)) }
        return headers
    }

    /// Deja's headers for an answer, in order; the router and the event-loop hit path (``HitFastPath``)
    /// both write these.
    static func forEachField(of answer: TaskResponse, _ body: (HTTPField.Name, String) -> Void) {
        body(.contentType, answer.contentType)
        if let outcome = answer.outcome { body(.dejaCache, outcome.rawValue) }
        if let key = answer.key { body(.dejaKey, key.hex) }
        body(.dejaTokens, String(answer.tokens))
        body(.dejaBilledTokens, String(answer.billed))
        if let version = answer.modelVersion { body(.dejaModelVersion, version) }
        if let age = answer.age { body(.age, String(age)) }
        if answer.redacted > 0 { body(.dejaRedacted, String(answer.redacted)) }
        if let pages = answer.pagesFromMemo { body(.dejaPageMemo, String(pages)) }
        if let retryAfter = answer.retryAfter { body(.retryAfter, String(retryAfter)) }
        if answer.replayed { body(.dejaIdempotentReplay, "true") }
        if let detail = answer.detail { body(.dejaError, Self.headerValue(detail)) }
    }

    /// `text` as a header value: visible ASCII and spaces, anything else as `?`.
    static func headerValue(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(1024).map { (0x20...0x7e).contains($0.value) ? $0 : "?" }))
    }

    /// 429 for a key over its request rate.
    static func rateLimited(wait: Double, limiter: RateLimiter, task: TaskRuntime) -> TaskResponse {
        let seconds = max(1, Int(wait.rounded(.up)))
        var answer = errorAnswer(429, "too many requests for this API key (limit \(limiter.perSecond) per second); retry after \(seconds) s", task: task)
        answer.retryAfter = seconds
        return answer
    }

    /// 503 (all bodies) or 429 (this key's bodies) when holding one more body would pass a budget.
    static func bodyBudgetRefused(_ refusal: BodyBudget.Refusal, budget: BodyBudget, task: TaskRuntime) -> TaskResponse {
        var answer: TaskResponse
        switch refusal {
        case .full:
            answer = errorAnswer(503, "the gateway holds as many request bodies as it may (server.maxInFlightBodyBytes, \(budget.maxBytes) bytes); retry shortly", task: task)
        case .keyFull:
            answer = errorAnswer(429, "this API key's requests in flight hold as many body bytes as one key may (server.maxInFlightBodyBytesPerKey, \(budget.maxBytesPerKey) bytes); retry when they are answered", task: task)
        }
        answer.retryAfter = 1
        return answer
    }

    /// 408 for a body slower than `server.bodyTimeoutSeconds`.
    static func bodyTimedOut(_ timeout: Duration, task: TaskRuntime) -> TaskResponse {
        errorAnswer(408, "the request body did not arrive within \(timeout.components.seconds) s (server.bodyTimeoutSeconds)", task: task)
    }

    /// Small answers go out as one buffer (one write); large ones as their parts, never copied.
    static func body(_ parts: [ByteBuffer]) -> ResponseBody {
        if parts.count == 1 { return ResponseBody(byteBuffer: parts[0]) }
        let total = parts.reduce(0) { $0 + $1.readableBytes }
        guard total <= 64 << 10 else { return ResponseBody(contentsOf: parts) }
        var merged = ByteBuffer()
        merged.reserveCapacity(total)
        for part in parts { merged.writeImmutableBuffer(part) }
        return ResponseBody(byteBuffer: merged)
    }

    /// An error in the task protocol's envelope, billed nothing.
    static func errorAnswer(_ status: Int, _ message: String, task: TaskRuntime) -> TaskResponse {
        TaskResponse(status: status, outcome: nil, key: nil, body: [task.taskProtocol.renderError(status: status, message: message, echo: nil)])
    }

    /// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, blanks around
    /// the token ignored); `nil` for any other header.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        var start = bytes.startIndex
        while start != bytes.endIndex, isBlank(bytes[start]) { start = bytes.index(after: start) }
        var schemeEnd = start
        while schemeEnd != bytes.endIndex, !isBlank(bytes[schemeEnd]) { schemeEnd = bytes.index(after: schemeEnd) }
        guard bytes.distance(from: start, to: schemeEnd) == 6,
              zip(bytes[start..<schemeEnd], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        var tokenStart = schemeEnd
        while tokenStart != bytes.endIndex, isBlank(bytes[tokenStart]) { tokenStart = bytes.index(after: tokenStart) }
        var tokenEnd = bytes.endIndex
        while tokenEnd != tokenStart, isBlank(bytes[bytes.index(before: tokenEnd)]) { tokenEnd = bytes.index(before: tokenEnd) }
        guard tokenStart != tokenEnd else { return nil }
        return String(header[tokenStart..<tokenEnd])
    }
}
