import DejaCache
import DejaCore
import DejaGateway
import Foundation

/// The body of `POST /admin/purge`, read into a ``DejaCache/PurgeFilter``.
///
/// A JSON object with at least one of `task`, `modelVersion`, `key` (64 hex digits), `tenant` or
/// `shared: true` (one scope), `olderThan` (`30s`, `30m`, `12h`, `7d`), or `"all": true` to purge
/// everything. Every condition given must hold. Anything else is refused with a message naming the field.
struct PurgeRequest {
    /// The fields the body may hold.
    static let fields: Set<String> = ["task", "modelVersion", "key", "tenant", "shared", "olderThan", "all"]

    /// Reads `body` against the configured `tasks` at time `now`; throws a 400 ``GatewayError`` naming the
    /// field that is wrong.
    static func filter(body: [UInt8], tasks: [String], now: Double) throws(GatewayError) -> PurgeFilter {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw GatewayError(.badRequest, #"the body must be a JSON object, e.g. {"task":"ocr","modelVersion":"v1"}"#)
        }
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw GatewayError(.badRequest, "unknown field '\(unknown)'; a purge takes \(fields.sorted().joined(separator: ", "))")
        }
        let parsed: Body
        do {
            parsed = try JSONDecoder().decode(Body.self, from: Data(body))
        } catch DecodingError.typeMismatch(let type, let context) {
            let field = context.codingPath.last?.stringValue ?? "?"
            throw GatewayError(.badRequest, "field '\(field)' must be \(type == Bool.self ? "true or false" : "a string")")
        } catch {
            throw GatewayError(.badRequest, "the body must be a JSON object of purge fields")
        }
        var filter = PurgeFilter()
        if let task = try nonEmpty(parsed.task, "task") {
            guard tasks.contains(task) else {
                throw GatewayError(.badRequest, "field 'task': no task named '\(task)'; configured: \(tasks.joined(separator: ", "))")
            }
            filter.task = task
        }
        filter.modelVersion = try nonEmpty(parsed.modelVersion, "modelVersion")
        if let hex = try nonEmpty(parsed.key, "key") {
            guard let key = CacheKey(hex: hex) else {
                throw GatewayError(.badRequest, "field 'key' must be a content key: 64 hexadecimal digits, as in x-deja-key")
            }
            filter.key = key
        }
        let tenant = try nonEmpty(parsed.tenant, "tenant")
        let shared = parsed.shared ?? false
        switch (tenant, shared) {
        case (.some, true):
            throw GatewayError(.badRequest, "fields 'tenant' and 'shared' name two scopes; give one")
        case (.some(let tenant), false):
            filter.scopeTag = CacheEntry.scopeTag(scopeField: CacheScope.tenant.keyField(tenant: tenant) ?? "")
        case (nil, true):
            filter.scopeTag = CacheEntry.scopeTag(scopeField: CacheScope.shared.keyField(tenant: nil) ?? "")
        case (nil, false):
            break
        }
        if let age = try nonEmpty(parsed.olderThan, "olderThan") {
            guard let seconds = ageSeconds(age) else {
                throw GatewayError(.badRequest, "field 'olderThan' must be a whole number and a unit s, m, h or d, e.g. 7d or 12h; not '\(age)'")
            }
            filter.createdBefore = now - seconds
        }
        filter.all = parsed.all ?? false
        guard !filter.isEmpty else {
            throw GatewayError(.badRequest, #"a purge needs a condition (task, modelVersion, key, tenant, shared, olderThan) or "all": true"#)
        }
        return filter
    }

    /// Seconds in an age such as `90s`, `30m`, `12h` or `7d`; `nil` for anything else, zero included.
    static func ageSeconds(_ text: String) -> Double? {
        guard let unit = text.last, let number = Int(text.dropLast()), number > 0, number < 1_000_000 else { return nil }
        switch unit {
        case "s": return Double(number)
        case "m": return Double(number) * 60
        case "h": return Double(number) * 3600
        case "d": return Double(number) * 86_400
        default: return nil
        }
    }

    private struct Body: Decodable {
        var task, modelVersion, key, tenant, olderThan: String?
        var shared, all: Bool?
    }

    private static func nonEmpty(_ value: String?, _ field: String) throws(GatewayError) -> String? {
        guard let value else { return nil }
        guard !value.isEmpty else { throw GatewayError(.badRequest, "field '\(field)' must not be empty") }
        return value
    }
}
