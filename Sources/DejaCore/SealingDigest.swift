/// The secret companion of a ``CacheKey``: a digest of the same canonical request under another tag.
///
/// The content key names where a request's answer is stored and is sent to clients in `x-deja-key`;
/// the sealing digest is neither stored nor sent. With a server secret it derives the key that seals the
/// stored answer, so whoever reads the storage — even holding the server secret — opens only the answers
/// to requests they already have. SHA-256 is one-way, so the content key does not reveal it.
public struct SealingDigest: Hashable, Sendable {
    /// The digest's 32 bytes, held like a key so that copying it never allocates.
    @usableFromInline let digest: CacheKey

    /// Wraps 32 digest bytes computed elsewhere (a raw body's memo digest, for a body alias).
    public init(_ digest: CacheKey) {
        self.digest = digest
    }

    /// Derives the sealing digest of a canonical request from the same fields as its content key.
    public init(
        scope: String,
        task: String,
        modelName: String,
        modelVersion: String,
        configHash: String,
        canonicalForm: [UInt8]
    ) {
        let fields = [Array(Self.tag.utf8)] + CacheKey.fields(
            scope: scope, task: task, modelName: modelName, modelVersion: modelVersion,
            configHash: configHash, canonicalForm: canonicalForm
        )
        self.init(CacheKey(digest: KeyEncoding.digest(fields: fields)))
    }

    /// Domain separation from the content key, which is a digest of the same fields without this tag.
    static let tag = "deja-seal-v1"

    /// The 32 bytes.
    public var bytes: [UInt8] { digest.bytes }
}
