/// A request in canonical form, with its key and the body to send upstream on a miss.
public struct CanonicalRequest: Sendable {
    /// The content key (SHA-256) naming this request.
    public let key: CacheKey
    /// The digest that, with a server secret, seals this request's stored answer; stored and sent nowhere.
    public let sealing: SealingDigest
    /// The key's scope field: `shared` or `tenant:<id>`.
    public let scope: String
    /// The canonical form: members sorted, volatile fields and defaults dropped, strings normalised, binary
    /// members replaced by their ``ContentDigest`` (`png-pixels-sha256:`, `jpeg-dct-sha256:`, `jpeg-scan-sha256:` or
    /// `sha256:<hex>`; URLs kept as their text).
    public let canonicalForm: JSONValue
    /// ``canonicalForm``'s canonical JSON bytes: what the key is computed over.
    public let canonicalBytes: [UInt8]
    /// The body the upstream receives: canonical JSON with the same members as ``canonicalForm``, but
    /// binary members as standard padded base64 of the decoded bytes (no data-URI prefix, no line breaks).
    /// Two requests with the same key may forward different file bytes when the files differ only in what
    /// the key ignores (a PNG's text chunks, a JPEG's EXIF camera fields).
    public let forwardBody: [UInt8]
    /// Human-readable steps that changed something, in order, for `deja explain`.
    public let notes: [String]
    /// Every string a text rule changed, in document order, when the ``Canonicalizer`` was asked to
    /// record them (``Canonicalizer/recordsTextChanges``); empty otherwise.
    public let textChanges: [TextChange]
    /// Total decoded bytes of all binary members (URLs count zero); an input size for meters.
    public let binaryBytes: Int
}
