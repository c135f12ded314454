import NIOCore

/// Turns a request body into its canonical form, key and forward body under a ``TaskPolicy``.
///
/// Pure and `Sendable`; safe to share across threads. The rules (see docs/canonical-form.md):
/// the body must be a JSON object; volatile members, `null` members and members canonically equal to
/// their declared default are dropped; string values (at any depth, never member names) are normalised
/// per the policy; binary members are decoded and replaced by `"sha256:<hex>"`; members are sorted by
/// the UTF-8 bytes of their names. Time and memory are linear in the body size.
public struct Canonicalizer: Sendable {
    /// Parser bounds applied to every body.
    public var limits: JSONLimits

    /// Creates a canonicalizer with the given parser bounds.
    public init(limits: JSONLimits = JSONLimits()) {
        self.limits = limits
    }

    /// Canonicalises `body` for `policy`; `tenant` is the caller's tenant, used only when the policy's
    /// scope is ``CacheScope/tenant``.
    ///
    /// - Throws: ``CanonicalError`` naming the offending path (`$` for the whole body, `$.file` for a
    ///   member). Every error except ``CanonicalError/Code/missingTenant`` is the client's to fix.
    public func canonicalize(
        body: some Collection<UInt8>,
        policy: TaskPolicy,
        scope tenant: String?
    ) throws(CanonicalError) -> CanonicalRequest {
        let scope = try Self.scopeField(policy: policy, tenant: tenant)
        let document = try JSONValue(parsing: body, limits: limits)
        return try canonicalize(document: document, policy: policy, scopeField: scope)
    }

    /// Canonicalises the readable bytes of `body`; see the byte-collection overload.
    public func canonicalize(
        body: ByteBuffer,
        policy: TaskPolicy,
        scope tenant: String?
    ) throws(CanonicalError) -> CanonicalRequest {
        let scope = try Self.scopeField(policy: policy, tenant: tenant)
        let document = try JSONValue(parsing: body, limits: limits)
        return try canonicalize(document: document, policy: policy, scopeField: scope)
    }

    /// Canonicalises an already parsed document (e.g. one line of a `deja warm` file).
    public func canonicalize(
        document: JSONValue,
        policy: TaskPolicy,
        scope tenant: String?
    ) throws(CanonicalError) -> CanonicalRequest {
        let scope = try Self.scopeField(policy: policy, tenant: tenant)
        return try canonicalize(document: document, policy: policy, scopeField: scope)
    }

    private static func scopeField(policy: TaskPolicy, tenant: String?) throws(CanonicalError) -> String {
        guard let field = policy.scope.keyField(tenant: tenant) else {
            throw CanonicalError(
                .missingTenant, path: "$",
                message: "task \(policy.task) caches per tenant but the request has no tenant; authenticate the request first"
            )
        }
        return field
    }

    private func canonicalize(
        document: JSONValue,
        policy: TaskPolicy,
        scopeField: String
    ) throws(CanonicalError) -> CanonicalRequest {
        guard case .object(let members) = document else {
            throw CanonicalError(
                .notAnObject, path: "$",
                message: "the body must be a JSON object, not a \(document.kindName); send {\"name\": value, ...}"
            )
        }
        var notes: [String] = []
        var canonicalMembers: [(key: String, value: JSONValue)] = []
        var forwardMembers: [(key: String, value: JSONValue)] = []
        var normalizer = TextNormalizer(form: policy.textNormalization)
        var binaryBytes = 0

        for (key, value) in members {
            let exact = ExactKey(key)
            let name = JSONPath.displayName(key)
            if policy.exactVolatile.contains(exact) {
                notes.append("dropped volatile field \(name)")
                continue
            }
            if value.isNull {
                notes.append("dropped \(name): null means its default")
                continue
            }
            if policy.exactBinary.contains(exact) {
                let outcome = try BinaryInput.canonicalize(value, key: key)
                notes += outcome.notes
                binaryBytes += outcome.decodedCount
                canonicalMembers.append((key: key, value: outcome.canonical))
                forwardMembers.append((key: key, value: outcome.forward))
                continue
            }
            let normalized = normalizer.normalize(value)
            if let defaultBytes = policy.exactDefaults[exact], normalized.canonicalBytes() == defaultBytes {
                notes.append("dropped \(name) equal to its default")
                continue
            }
            canonicalMembers.append((key: key, value: normalized))
            forwardMembers.append((key: key, value: normalized))
        }
        if normalizer.changedCount > 0 {
            let form = policy.textNormalization.rawValue.uppercased()
            let strings = normalizer.changedCount == 1 ? "string" : "strings"
            notes.append("normalised \(normalizer.changedCount) \(strings) to \(form)")
        }
        for required in policy.requiredFields.sorted(by: ExactKey.precedes)
        where !canonicalMembers.contains(where: { $0.key.utf8.elementsEqual(required.utf8) }) {
            throw CanonicalError(.missingField, path: JSONPath.member(required), message: "is required but missing or null; add it to the request")
        }

        canonicalMembers.sort { ExactKey.precedes($0.key, $1.key) }
        forwardMembers.sort { ExactKey.precedes($0.key, $1.key) }
        let canonicalForm = JSONValue.object(canonicalMembers)
        let canonicalBytes = canonicalForm.canonicalBytes()
        let key = CacheKey(
            scope: scopeField, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
            configHash: policy.configHash, canonicalForm: canonicalBytes
        )
        return CanonicalRequest(
            key: key, scope: scopeField, canonicalForm: canonicalForm, canonicalBytes: canonicalBytes,
            forwardBody: JSONValue.object(forwardMembers).canonicalBytes(), notes: notes, binaryBytes: binaryBytes
        )
    }
}
