import NIOCore

/// Turns a request body into its canonical form, key and forward body under a ``TaskPolicy``.
///
/// Pure and `Sendable`; safe to share across threads. The rules (see docs/canonical-form.md):
/// the body must be a JSON object; volatile members, `null` members and members canonically equal to
/// their declared default are dropped; string values (at any depth, never member names) are normalised
/// per the member's text rule (each at most ``TaskPolicy/maxTextBytes`` long); binary members are decoded and replaced by their ``ContentDigest``
/// (a PNG by its pixels, a JPEG by its decoding data, anything else by its bytes); members are sorted by
/// the UTF-8 bytes of their names. Time and memory are linear in the body size, plus image decoding
/// within ``imageLimits``.
public struct Canonicalizer: Sendable {
    /// Parser bounds applied to every body.
    public var limits: JSONLimits
    /// Bounds on decoding images in binary members.
    public var imageLimits: ImageLimits
    /// Remembers raw file → content digest so an image is decoded once per distinct byte sequence;
    /// `nil` decodes every time.
    public var contentDigestCache: (any ContentDigestCache)?
    /// Keep every string a text rule changed, before and after, in ``CanonicalRequest/textChanges`` (for
    /// `deja explain`; off by default, since it holds the request's text twice).
    public var recordsTextChanges = false

    /// Creates a canonicalizer with the given parser and image bounds and an optional decode-once cache.
    public init(
        limits: JSONLimits = JSONLimits(),
        imageLimits: ImageLimits = ImageLimits(),
        contentDigestCache: (any ContentDigestCache)? = nil
    ) {
        self.limits = limits
        self.imageLimits = imageLimits
        self.contentDigestCache = contentDigestCache
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

    /// `to NFC`, `to NFKC, trimmed, white space collapsed, case folded, white space next to CJK removed`,
    /// `(trimmed)` (form `none`).
    private static func describe(_ rule: TextRule) -> String {
        var steps: [String] = []
        if rule.trimsWhitespace { steps.append("trimmed") }
        if rule.collapsesWhitespace { steps.append("white space collapsed") }
        if rule.foldsCase { steps.append("case folded") }
        if rule.removesCJKSpacing { steps.append("white space next to CJK removed") }
        guard rule.form != .none else { return "(" + steps.joined(separator: ", ") + ")" }
        return "to " + ([rule.form.rawValue.uppercased()] + steps).joined(separator: ", ")
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
        var normalizers: [TextRule: TextNormalizer] = [:]
        var ruleOrder: [TextRule] = []
        var textChanges: [TextChange] = []
        var binaryBytes = 0
        let context = BinaryInput.Context(limits: imageLimits, cache: contentDigestCache, scope: scopeField)

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
                let outcome = try BinaryInput.canonicalize(value, key: key, context: context)
                notes += outcome.notes
                binaryBytes += outcome.decodedCount
                canonicalMembers.append((key: key, value: outcome.canonical))
                forwardMembers.append((key: key, value: outcome.forward))
                continue
            }
            let rule = policy.exactTextRules[exact] ?? policy.defaultTextRule
            if normalizers[rule] == nil {
                normalizers[rule] = TextNormalizer(rule: rule, maxBytes: policy.maxTextBytes, recordsChanges: recordsTextChanges)
                ruleOrder.append(rule)
            }
            let normalized = try normalizers[rule]!.normalize(value, member: key)
            if recordsTextChanges { textChanges += normalizers[rule]!.takeChanges() }
            // Normalisation may lengthen a request by one member's worth in all, not more: a body of
            // characters that expand must not become a request many times its size.
            let grown = normalizers.values.reduce(0) { $0 + $1.grownBytes }
            if grown > policy.maxTextBytes {
                throw CanonicalError(
                    .limitExceeded, path: JSONPath.member(key),
                    message: "makes the request's text \(grown) bytes longer once normalised, more than this task's limit of \(policy.maxTextBytes) bytes (maxTextBytes); send less text that expands under normalisation"
                )
            }
            if let defaultBytes = policy.exactDefaults[exact], normalized.canonicalBytes() == defaultBytes {
                notes.append("dropped \(name) equal to its default")
                forwardMembers.append((key: key, value: normalized))  // the model is told, not left to its own default
                continue
            }
            canonicalMembers.append((key: key, value: normalized))
            forwardMembers.append((key: key, value: normalized))
        }
        for rule in ruleOrder {
            let changed = normalizers[rule]!.changedCount
            guard changed > 0 else { continue }
            let strings = changed == 1 ? "string" : "strings"
            notes.append("normalised \(changed) \(strings) \(Self.describe(rule))")
        }
        for required in policy.requiredFields.sorted(by: ExactKey.precedes)
        where !canonicalMembers.contains(where: { $0.key.utf8.elementsEqual(required.utf8) }) {
            throw CanonicalError(.missingField, path: JSONPath.member(required), message: "is required but missing or null; add it to the request")
        }

        // Every declared default the request left out (or sent as null) is sent explicitly: the model
        // computes what the key says even where its own defaults differ from the declared ones.
        for (exact, member) in policy.normalizedDefaults
        where !forwardMembers.contains(where: { ExactKey($0.key) == exact }) {
            forwardMembers.append((key: member.name, value: member.value))
        }
        canonicalMembers.sort { ExactKey.precedes($0.key, $1.key) }
        forwardMembers.sort { ExactKey.precedes($0.key, $1.key) }
        let canonicalForm = JSONValue.object(canonicalMembers)
        let canonicalBytes = canonicalForm.canonicalBytes()
        let key = CacheKey(
            scope: scopeField, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
            configHash: policy.configHash, canonicalForm: canonicalBytes
        )
        let sealing = SealingDigest(
            scope: scopeField, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
            configHash: policy.configHash, canonicalForm: canonicalBytes
        )
        return CanonicalRequest(
            key: key, sealing: sealing, scope: scopeField, canonicalForm: canonicalForm, canonicalBytes: canonicalBytes,
            forwardBody: JSONValue.object(forwardMembers).canonicalBytes(), notes: notes, textChanges: textChanges,
            binaryBytes: binaryBytes
        )
    }
}
