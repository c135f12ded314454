import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// Endpoints under `/admin/`, for the admin token only.
///
/// `POST /admin/explain?route=/ocr[&tenant=T]` with a request body: the canonical form, each step that
/// changed something, each string a text rule changed (before and after) and the content key — what
/// `deja explain` prints — without sending anything.
///
/// `POST /admin/keys/<id>/revoke`: revokes an API key in the ledger and stops every instance from
/// accepting it at once (``KeyRevocations``).
struct AdminController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let adminToken: AdminToken?
    let maxBodyBytes: Int
    let ledger: any Ledger
    let revocations: KeyRevocations

    func addRoutes(to router: Router<Context>) {
        router.post("/admin/explain") { request, _ in
            try await self.explain(request)
        }
        router.post("/admin/keys/:id/revoke") { request, context in
            try await self.revoke(request, id: context.parameters.require("id"))
        }
    }

    /// Throws unless the request carries the admin token.
    private func authorize(_ request: Request) throws {
        guard let adminToken else {
            throw GatewayError(.forbidden, "admin endpoints are off: set adminToken (DEJA_ADMIN_TOKEN) to use them")
        }
        guard let token = TaskController<Context>.bearerToken(request.headers[.authorization]), adminToken.matches(token) else {
            throw GatewayError(.unauthorized, "admin endpoints need 'Authorization: Bearer <admin token>'")
        }
    }

    func revoke(_ request: Request, id: String) async throws -> Response {
        try authorize(request)
        guard try await ledger.revokeKey(id: id) else {
            throw GatewayError(.notFound, "no API key with id '\(id)'; 'deja keys list' shows them")
        }
        await revocations.announce(keyID: id)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"id":"\#(id)","revoked":true}"#)))
    }

    func explain(_ request: Request) async throws -> Response {
        try authorize(request)
        let route = request.uri.queryParameters["route"].map(String.init) ?? tasks.first?.route ?? ""
        guard let task = tasks.first(where: { $0.route == route || $0.policy.task == route }) else {
            throw GatewayError(.notFound, "no task with route or name '\(route)'; configured: \(tasks.map(\.route).joined(separator: ", "))")
        }
        let tenant = request.uri.queryParameters["tenant"].map(String.init) ?? "explain"
        var request = request
        let body = try await request.collectBody(upTo: maxBodyBytes)
        let explained: CanonicalRequest
        do {
            var canonicalizer = Canonicalizer()
            canonicalizer.recordsTextChanges = true
            explained = try canonicalizer.canonicalize(body: body, policy: task.policy, scope: tenant)
        } catch {
            throw GatewayError(.badRequest, "the request would be rejected with 400: \(error.description)")
        }
        let report = Explanation(
            task: task.policy.task, route: task.route, modelName: task.policy.modelName,
            modelVersion: task.policy.modelVersion, scope: explained.scope, configHash: task.policy.configHash,
            keyScheme: CanonicalScheme.version, canonicalForm: String(decoding: explained.canonicalBytes, as: UTF8.self),
            steps: explained.notes,
            textChanges: explained.textChanges.map { TextChangeReport(path: $0.path, rule: $0.rule.description, before: $0.before, after: $0.after) },
            key: explained.key.hex
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(report))))
    }

    struct Explanation: Codable {
        var task, route, modelName, modelVersion, scope, configHash: String
        var keyScheme: Int
        var canonicalForm: String
        var steps: [String]
        var textChanges: [TextChangeReport]
        var key: String
    }

    struct TextChangeReport: Codable {
        var path, rule, before, after: String
    }
}
