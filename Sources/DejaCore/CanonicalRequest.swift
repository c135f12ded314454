/// A request in canonical form, with its key and the body to send upstream on a miss.
public struct CanonicalRequest: Sendable {
    /// The content key (SHA-256) naming this request.
    public let key: CacheKey
    /// The key's scope field: `shared` or `tenant:<id>`.
    public let scope: String
    /// The canonical form: members sorted, volatile fields and defaults dropped, strings normalised, binary
    /// members replaced by `"sha256:<hex of the decoded bytes>"` (URLs kept as their text).
    public let canonicalForm: JSONValue
    /// ``canonicalForm``'s canonical JSON bytes: what the key is computed over.
    public let canonicalBytes: [UInt8]
    /// The body the upstream receives: canonical JSON with the same members as ``canonicalForm``, but
    /// binary members as standard padded base64 of the decoded bytes (no data-URI prefix, no line breaks).
    public let forwardBody: [UInt8]
    /// Human-readable steps that changed something, in order, for `deja explain`.
    public let notes: [String]
    /// Total decoded bytes of all binary members (URLs count zero); an input size for meters.
    public let binaryBytes: Int
}
