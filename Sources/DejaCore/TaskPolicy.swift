import Crypto

/// The per-task rules that shape a request's canonical form and key, as read from configuration.
///
/// Member names in the sets and in `defaults` are top-level member names, matched exactly (byte for
/// byte) against the request. Values are immutable; ``configHash`` is computed once at initialisation.
public struct TaskPolicy: Sendable {
    /// The task's name, e.g. `ocr`; part of the key.
    public let task: String
    /// The name of the route's wire protocol, as spelled in configuration; part of ``configHash``.
    public let protocolName: String
    /// The upstream model's name; part of the key.
    public let modelName: String
    /// The upstream model's version; part of the key.
    public private(set) var modelVersion: String
    /// Whether entries are shared by all tenants or kept per tenant.
    public let scope: CacheScope
    /// Top-level members dropped from the canonical form (the protocol's own per-request noise among them).
    public let volatileFields: Set<String>
    /// Declared parameter defaults: a top-level member canonically equal to its default is dropped.
    public let defaults: [String: JSONValue]
    /// Top-level string members holding base64 data (or a data URI or an http(s) URL).
    public let binaryFields: Set<String>
    /// Top-level members that must be present and not `null`.
    public let requiredFields: Set<String>
    /// The Unicode form of the default text rule (``defaultTextRule``'s `form`).
    public let textNormalization: TextNormalization
    /// How string values are normalised in members without a rule of their own. NFC only by default.
    public let defaultTextRule: TextRule
    /// Text rules for particular top-level members (applying to every string inside them, at any depth);
    /// members not named here use ``defaultTextRule``.
    public let fieldTextRules: [String: TextRule]
    /// Longest string a request may have in a text (non-binary) member, in UTF-8 bytes after unescaping;
    /// a longer one is ``CanonicalError/Code/limitExceeded`` naming the string's path. Default 1 MiB.
    public let maxTextBytes: Int
    /// SHA-256 (64 lowercase hex) over everything here that affects the canonical form: the protocol's
    /// name, volatile fields, defaults, binary fields and text rules. Not task, model, scope, required
    /// fields or ``maxTextBytes`` (the first three are key fields of their own; the last two only accept or
    /// reject).
    public let configHash: String

    let exactVolatile: Set<ExactKey>
    let exactBinary: Set<ExactKey>
    let exactTextRules: [ExactKey: TextRule]
    /// Canonical bytes of each default after normalisation, keyed by exact member name.
    let exactDefaults: [ExactKey: [UInt8]]
    /// Each default after normalisation, by exact member name: what the model is sent when the request
    /// leaves the member out, so that it computes what the key says whatever its own defaults are.
    let normalizedDefaults: [ExactKey: (name: String, value: JSONValue)]

    /// The default ``maxTextBytes``: 1 MiB.
    public static let defaultMaxTextBytes = 1 << 20

    /// Creates a policy. `protocolName` is the wire protocol's configuration name; the member roles it
    /// declares (binary, required, volatile) are passed in the sets, joined with the task's own.
    ///
    /// Text: `textRule`, when given, is the default rule for all text and its form wins over
    /// `textNormalization`; otherwise the default rule is `textNormalization` alone. `fieldTextRules`
    /// overrides it for the named top-level members.
    public init(
        task: String,
        protocolName: String = "json",
        modelName: String,
        modelVersion: String,
        scope: CacheScope = .shared,
        volatileFields: Set<String> = [],
        defaults: [String: JSONValue] = [:],
        binaryFields: Set<String> = [],
        requiredFields: Set<String> = [],
        textNormalization: TextNormalization = .nfc,
        textRule: TextRule? = nil,
        fieldTextRules: [String: TextRule] = [:],
        maxTextBytes: Int = TaskPolicy.defaultMaxTextBytes
    ) {
        self.task = task
        self.protocolName = protocolName
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.scope = scope
        self.volatileFields = volatileFields
        self.defaults = defaults
        self.binaryFields = binaryFields
        self.requiredFields = requiredFields
        let defaultTextRule = textRule ?? TextRule(form: textNormalization)
        self.textNormalization = defaultTextRule.form
        self.defaultTextRule = defaultTextRule
        self.fieldTextRules = fieldTextRules
        self.maxTextBytes = maxTextBytes

        exactVolatile = Set(self.volatileFields.map(ExactKey.init))
        exactBinary = Set(binaryFields.map(ExactKey.init))
        var exactTextRules: [ExactKey: TextRule] = [:]
        for (name, rule) in fieldTextRules { exactTextRules[ExactKey(name)] = rule }
        self.exactTextRules = exactTextRules
        var exactDefaults: [ExactKey: [UInt8]] = [:]
        var normalizedDefaults: [ExactKey: (name: String, value: JSONValue)] = [:]
        for (name, value) in defaults {
            var normalizer = TextNormalizer(rule: exactTextRules[ExactKey(name)] ?? defaultTextRule)
            let normalized = normalizer.normalize(value)
            exactDefaults[ExactKey(name)] = normalized.canonicalBytes()
            normalizedDefaults[ExactKey(name)] = (name: name, value: normalized)
        }
        self.exactDefaults = exactDefaults
        self.normalizedDefaults = normalizedDefaults
        configHash = Self.hash(
            protocolName: protocolName, volatileFields: self.volatileFields, defaults: defaults,
            binaryFields: binaryFields, textRule: defaultTextRule, fieldTextRules: fieldTextRules
        )
    }

    /// The text rule for the top-level member named exactly `name`.
    public func textRule(for name: String) -> TextRule {
        exactTextRules[ExactKey(name)] ?? defaultTextRule
    }

    /// The configuration-hash encoding: ``KeyEncoding`` over the policy tag, protocol name, the sorted
    /// volatile and binary field lists, the sorted defaults (name, canonical bytes), the default text
    /// rule's spelling and the per-field text rules (name, spelling), sorted by name.
    static func hash(
        protocolName: String,
        volatileFields: Set<String>,
        defaults: [String: JSONValue],
        binaryFields: Set<String>,
        textRule: TextRule,
        fieldTextRules: [String: TextRule]
    ) -> String {
        func list(_ names: Set<String>) -> [UInt8] {
            KeyEncoding.encode(fields: names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
        }
        let sortedDefaults = defaults.sorted { ExactKey.precedes($0.key, $1.key) }
        let defaultFields = sortedDefaults.flatMap { [Array($0.key.utf8), $0.value.canonicalBytes()] }
        let fields: [[UInt8]] = [
            Array(CanonicalScheme.policyTag.utf8),
            Array(protocolName.utf8),
            list(volatileFields),
            KeyEncoding.encode(fields: defaultFields),
            list(binaryFields),
            Array(textRule.description.utf8),
            KeyEncoding.encode(fields: fieldTextRules.sorted { ExactKey.precedes($0.key, $1.key) }
                .flatMap { [Array($0.key.utf8), Array($0.value.description.utf8)] }),
        ]
        return Hex.encode(KeyEncoding.digest(fields: fields))
    }
}

extension TaskPolicy {
    /// This policy for another version of the same model (a gray release's candidate): the same
    /// canonical form and configuration hash, keys under `version`.
    public func withModelVersion(_ version: String) -> TaskPolicy {
        var policy = self
        policy.modelVersion = version
        return policy
    }
}
