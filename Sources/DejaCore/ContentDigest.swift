import Crypto

/// What a binary member's content is keyed on: a digest and the kind of content it was taken over.
///
/// Written `<kind>:<64 lowercase hex>`: `png-pixels-sha256:…` (a PNG's decoded image and the chunks that
/// change how it renders), `jpeg-dct-sha256:…` (a JPEG's frame, quantisation tables and DCT coefficients),
/// `jpeg-scan-sha256:…` (a JPEG whose coefficients are not read: its decoding segments and scan data),
/// `pdf-pages-sha256:…` (what a PDF's pages draw) or `sha256:…` (the file's bytes as they are). Different kinds never collide.
public struct ContentDigest: Sendable, Hashable, CustomStringConvertible {
    /// What the digest was taken over.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A PNG's header, palette, transparency, rendering chunks, orientation and unfiltered pixel rows.
        case pngPixels = "png-pixels-sha256"
        /// A JPEG's frame, quantisation tables and DCT coefficients, ICC profile, Adobe transform and
        /// EXIF orientation — not its entropy coding.
        case jpegDCT = "jpeg-dct-sha256"
        /// A JPEG whose coefficients are not read (arithmetic coding, lossless, 12-bit, …): its decoding
        /// segments (tables, frame, scans with their data), ICC profile, Adobe transform and EXIF orientation.
        case jpegScan = "jpeg-scan-sha256"
        /// A PDF's pages as they draw: page count, each page's structural digest (content streams,
        /// resources, fonts, images, annotations, inherited attributes) and the catalog entries that can
        /// change a rendered page — not its metadata, object numbering or cross-reference layout.
        case pdfPages = "pdf-pages-sha256"
        /// The file's bytes as they are.
        case bytes = "sha256"
    }

    /// What the digest was taken over.
    public let kind: Kind
    /// The SHA-256 digest.
    public let digest: CacheKey

    /// Creates a content digest.
    public init(kind: Kind, digest: CacheKey) {
        self.kind = kind
        self.digest = digest
    }

    /// Parses `<kind>:<64 hex>`; `nil` for anything else. The inverse of ``description``.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.firstIndex(of: ":"), let kind = Kind(rawValue: String(text[..<colon])),
              let digest = CacheKey(hex: text[text.index(after: colon)...])
        else { return nil }
        self.init(kind: kind, digest: digest)
    }

    /// `<kind>:<64 lowercase hex>`, as it appears in the canonical form.
    public var description: String { kind.rawValue + ":" + digest.hex }
}

extension ContentDigest {
    /// The key a ``ContentDigestCache`` files `bytes` under: SHA-256 of the ``KeyEncoding`` field
    /// `deja-content-v<scheme version>` followed by the bytes. Not the same as the `sha256:` digest.
    ///
    /// `scope` is the request's cache scope (`shared` or `tenant:<id>`): a file one tenant sent is
    /// decoded again for another, so how fast a request is read tells nobody what others sent.
    public static func rawKey(of bytes: UnsafeRawBufferPointer, scope: String) -> CacheKey {
        var hasher = SHA256()
        hasher.update(data: KeyEncoding.encode(fields: [Array(CanonicalScheme.contentTag.utf8), Array(scope.utf8)]))
        hasher.update(bufferPointer: bytes)
        return CacheKey(digest: hasher.finalize())
    }

    /// ``rawKey(of:)-(UnsafeRawBufferPointer)`` of an array.
    public static func rawKey(of bytes: [UInt8], scope: String) -> CacheKey {
        bytes.withUnsafeBytes { rawKey(of: $0, scope: scope) }
    }
}
