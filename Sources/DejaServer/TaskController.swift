import DejaCore
import DejaGateway
import DejaLedger
import Hummingbird

/// The drop-in task routes: one `POST` per configured task, speaking the upstream's own protocol.
struct TaskController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let gateway: Gateway
    let authenticator: Authenticator
    let maxBodyBytes: Int

    func addRoutes(to router: Router<Context>) {
        for task in tasks {
            router.post(RouterPath(task.route)) { request, _ in
                await self.handle(request, task: task)
            }
        }
    }

    func handle(_ request: Request, task: TaskRuntime) async -> Response {
        // Who is asking.
        guard let secret = Self.bearerToken(request.headers[.authorization]) else {
            return Self.error(401, "missing API key: send the header 'Authorization: Bearer <api key>'")
        }
        let caller: APIKeyInfo
        do {
            guard let info = try await authenticator.authenticate(secret: secret) else {
                return Self.error(401, "unknown or revoked API key; create one with 'deja keys create --tenant <name>'")
            }
            caller = info
        } catch {
            return Self.error(503, "the key store is unavailable; retry shortly")
        }

        // What they sent, within the limit.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBodyBytes {
            return Self.error(413, "request body of \(declared) bytes is over the limit of \(maxBodyBytes) bytes (server.maxBodyBytes)")
        }
        let body: ByteBuffer
        do {
            var request = request
            body = try await request.collectBody(upTo: maxBodyBytes)
        } catch {
            return Self.error(413, "request body is over the limit of \(maxBodyBytes) bytes (server.maxBodyBytes)")
        }
        if body.readableBytes == 0 {
            return Self.error(400, "empty request body: send a JSON object such as {\"file\": \"<base64>\", \"fileType\": 1}")
        }

        let answer = await gateway.handle(
            task: task, caller: caller, body: body,
            cacheControl: CacheControl(header: request.headers[.cacheControl])
        )
        return Self.response(answer)
    }

    /// The HTTP form of a gateway answer, with Deja's headers.
    static func response(_ answer: TaskResponse) -> Response {
        var headers = HTTPFields()
        headers.reserveCapacity(8)
        headers[.contentType] = answer.contentType
        if let outcome = answer.outcome { headers[.dejaCache] = outcome.rawValue }
        if let key = answer.key { headers[.dejaKey] = key.hex }
        headers[.dejaTokens] = String(answer.tokens)
        headers[.dejaBilledTokens] = String(answer.billed)
        if let version = answer.modelVersion { headers[.dejaModelVersion] = version }
        if let age = answer.age { headers[.age] = String(age) }
        if let retryAfter = answer.retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers, body: Self.body(answer.body))
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

    static func error(_ status: Int, _ message: String) -> Response {
        response(TaskResponse(
            status: status, outcome: nil, key: nil,
            body: [PaddleXProtocol.renderError(status: status, message: message, logId: PaddleXProtocol.newLogId())]
        ))
    }

    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

import Foundation
