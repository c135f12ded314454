import DejaGateway
import Foundation
import Hummingbird

/// Deja's own error envelope: `{"error": {"code": "<snake_case>", "message": "..."}}`.
struct DejaErrorBody: Codable, Sendable {
    struct Detail: Codable, Sendable {
        var code: String
        var message: String
    }

    var error: Detail

    /// A JSON response with this envelope.
    static func response(status: HTTPResponse.Status, code: String, message: String) -> Response {
        let body = DejaErrorBody(error: Detail(code: code, message: message))
        let data = (try? JSONEncoder().encode(body)) ?? Data("{}".utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func response(_ error: GatewayError) -> Response {
        response(status: HTTPResponse.Status(code: error.status), code: error.code.description, message: error.message)
    }
}

/// Turns errors thrown by Deja's own endpoints, and Hummingbird's (unknown route, wrong method, body
/// too large), into Deja's error envelope, so every error a client sees says what to fix.
struct ErrorEnvelopeMiddleware<Context: RequestContext>: RouterMiddleware {
    let taskRoutes: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            return DejaErrorBody.response(error)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                let routes = taskRoutes.joined(separator: ", ")
                return DejaErrorBody.response(
                    status: .notFound, code: "not_found",
                    message: "no such endpoint: \(request.method) \(request.uri.path); task routes (POST): \(routes); also GET /healthz, /readyz, /metrics, /v1/usage, /dashboard"
                )
            case .methodNotAllowed:
                return DejaErrorBody.response(
                    status: .methodNotAllowed, code: "method_not_allowed",
                    message: "\(request.method) is not allowed on \(request.uri.path)"
                )
            case .contentTooLarge:
                return DejaErrorBody.response(status: .contentTooLarge, code: "payload_too_large", message: "the request body is too large")
            default:
                return DejaErrorBody.response(
                    status: error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                    message: error.body ?? error.status.reasonPhrase
                )
            }
        }
    }
}
