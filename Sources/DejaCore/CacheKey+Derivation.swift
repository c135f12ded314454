extension CacheKey {
    /// The fields a key is derived from, in order: scheme tag, scope, task, model name, model version,
    /// configuration hash, canonical form bytes.
    public static func fields(
        scope: String,
        task: String,
        modelName: String,
        modelVersion: String,
        configHash: String,
        canonicalForm: [UInt8]
    ) -> [[UInt8]] {
        [
            Array(CanonicalScheme.keyTag.utf8),
            Array(scope.utf8),
            Array(task.utf8),
            Array(modelName.utf8),
            Array(modelVersion.utf8),
            Array(configHash.utf8),
            canonicalForm,
        ]
    }

    /// Derives the key of a canonical request: SHA-256 over ``KeyEncoding`` of ``fields(scope:task:modelName:modelVersion:configHash:canonicalForm:)``.
    ///
    /// `scope` is `shared` or `tenant:<id>` (see ``CacheScope/keyField(tenant:)``); `canonicalForm` is the
    /// canonical JSON bytes of the request.
    public init(
        scope: String,
        task: String,
        modelName: String,
        modelVersion: String,
        configHash: String,
        canonicalForm: [UInt8]
    ) {
        let fields = Self.fields(
            scope: scope, task: task, modelName: modelName, modelVersion: modelVersion,
            configHash: configHash, canonicalForm: canonicalForm
        )
        self.init(digest: KeyEncoding.digest(fields: fields))
    }
}
