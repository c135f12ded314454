import Crypto

/// The per-task rules that shape a request's canonical form and key, as read from configuration.
///
/// Member names in the sets and in `defaults` are top-level member names, matched exactly (byte for
/// byte) against the request. Values are immutable; ``configHash`` is computed once at initialisation.
public struct TaskPolicy: Sendable {
    /// The task's name, e.g. `ocr`; part of the key.
    public let task: String
    /// The route's wire protocol; contributes its own volatile fields.
    public let taskProtocol: TaskProtocol
    /// The upstream model's name; part of the key.
    public let modelName: String
    /// The upstream model's version; part of the key.
    public let modelVersion: String
    /// Whether entries are shared by all tenants or kept per tenant.
    public let scope: CacheScope
    /// Top-level members dropped from the canonical form; always includes the protocol's own (`logId`).
    public let volatileFields: Set<String>
    /// Declared parameter defaults: a top-level member canonically equal to its default is dropped.
    public let defaults: [String: JSONValue]
    /// Top-level string members holding base64 data (or a data URI or an http(s) URL).
    public let binaryFields: Set<String>
    /// Top-level members that must be present and not `null`.
    public let requiredFields: Set<String>
    /// Unicode normalisation of string values.
    public let textNormalization: TextNormalization
    /// SHA-256 (64 lowercase hex) over everything here that affects the canonical form: the protocol's
    /// name, volatile fields, defaults, binary fields and normalisation. Not task, model, scope or
    /// required fields (the first three are key fields of their own; the last only accepts or rejects).
    public let configHash: String

    let exactVolatile: Set<ExactKey>
    let exactBinary: Set<ExactKey>
    /// Canonical bytes of each default after normalisation, keyed by exact member name.
    let exactDefaults: [ExactKey: [UInt8]]

    /// Creates a policy. The protocol's volatile fields are added to `volatileFields`.
    public init(
        task: String,
        protocol taskProtocol: TaskProtocol = .paddleX,
        modelName: String,
        modelVersion: String,
        scope: CacheScope = .shared,
        volatileFields: Set<String> = [],
        defaults: [String: JSONValue] = [:],
        binaryFields: Set<String> = [],
        requiredFields: Set<String> = [],
        textNormalization: TextNormalization = .nfc
    ) {
        self.task = task
        self.taskProtocol = taskProtocol
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.scope = scope
        self.volatileFields = volatileFields.union(taskProtocol.volatileFields)
        self.defaults = defaults
        self.binaryFields = binaryFields
        self.requiredFields = requiredFields
        self.textNormalization = textNormalization

        exactVolatile = Set(self.volatileFields.map(ExactKey.init))
        exactBinary = Set(binaryFields.map(ExactKey.init))
        var normalizer = TextNormalizer(form: textNormalization)
        var exactDefaults: [ExactKey: [UInt8]] = [:]
        for (name, value) in defaults {
            exactDefaults[ExactKey(name)] = normalizer.normalize(value).canonicalBytes()
        }
        self.exactDefaults = exactDefaults
        configHash = Self.hash(
            protocol: taskProtocol, volatileFields: self.volatileFields, defaults: defaults,
            binaryFields: binaryFields, textNormalization: textNormalization
        )
    }

    /// The PaddleX OCR preset: `file` is a required binary field, `logId` is volatile.
    public static func paddleXOCR(
        task: String = "ocr",
        modelName: String,
        modelVersion: String,
        scope: CacheScope = .shared,
        volatileFields: Set<String> = [],
        defaults: [String: JSONValue] = [:],
        textNormalization: TextNormalization = .nfc
    ) -> TaskPolicy {
        TaskPolicy(
            task: task, protocol: .paddleX, modelName: modelName, modelVersion: modelVersion, scope: scope,
            volatileFields: volatileFields, defaults: defaults, binaryFields: ["file"], requiredFields: ["file"],
            textNormalization: textNormalization
        )
    }

    /// The configuration-hash encoding: ``KeyEncoding`` over the policy tag, protocol name, the sorted
    /// volatile and binary field lists, the sorted defaults (name, canonical bytes) and the normalisation.
    static func hash(
        protocol taskProtocol: TaskProtocol,
        volatileFields: Set<String>,
        defaults: [String: JSONValue],
        binaryFields: Set<String>,
        textNormalization: TextNormalization
    ) -> String {
        func list(_ names: Set<String>) -> [UInt8] {
            KeyEncoding.encode(fields: names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
        }
        let sortedDefaults = defaults.sorted { ExactKey.precedes($0.key, $1.key) }
        let defaultFields = sortedDefaults.flatMap { [Array($0.key.utf8), $0.value.canonicalBytes()] }
        let fields: [[UInt8]] = [
            Array(CanonicalScheme.policyTag.utf8),
            Array(taskProtocol.name.utf8),
            list(volatileFields),
            KeyEncoding.encode(fields: defaultFields),
            list(binaryFields),
            Array(textNormalization.rawValue.utf8),
        ]
        return Hex.encode(KeyEncoding.digest(fields: fields))
    }
}
