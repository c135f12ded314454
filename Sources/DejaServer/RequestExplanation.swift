import DejaCore
import DejaGateway
import NIOCore

/// What `POST /admin/explain`, `deja explain` and the dashboard's key page show for a request body: its
/// canonical form, each step that changed something, each string a text rule changed (before and after)
/// and the content key — computed without sending anything.
struct RequestExplanation: Codable, Sendable {
    struct TextChange: Codable, Sendable {
        var path, rule, before, after: String
    }

    var task, route, modelName, modelVersion, scope, configHash: String
    var keyScheme: Int
    var canonicalForm: String
    var steps: [String]
    var textChanges: [TextChange]
    var key: String

    /// Explains `body` as `task` would key it for `tenant`, as the version that answers it (a gray
    /// release's candidate, or the stable one); throws a 400 when the task would reject the body.
    init(explaining body: ByteBuffer, for task: TaskRuntime, tenant: String) throws {
        let explained: CanonicalRequest
        do {
            var canonicalizer = Canonicalizer()
            canonicalizer.recordsTextChanges = true
            explained = try canonicalizer.canonicalize(body: body, policy: task.policy, scope: tenant)
        } catch {
            throw GatewayError(.badRequest, "the request would be rejected with 400: \(error.description)")
        }
        let (answered, modelVersion) = task.routed(explained)
        self.task = task.policy.task
        route = task.route
        modelName = task.policy.modelName
        self.modelVersion = modelVersion
        scope = explained.scope
        configHash = task.policy.configHash
        keyScheme = CanonicalScheme.version
        canonicalForm = String(decoding: explained.canonicalBytes, as: UTF8.self)
        steps = explained.notes
        textChanges = explained.textChanges.map {
            TextChange(path: $0.path, rule: $0.rule.description, before: $0.before, after: $0.after)
        }
        key = answered.key.hex
    }
}
