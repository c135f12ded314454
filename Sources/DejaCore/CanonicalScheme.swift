/// The version of the canonical-form and key rules.
///
/// Any change to a rule that can change a canonical form or a key (parsing, number spelling, escapes,
/// normalisation, binary handling, the key or policy encoding) must bump ``version``, so that old entries
/// are never served for requests that the new rules read differently.
///
/// Version 2: PNG and JPEG files are keyed by content (`png-pixels-sha256:`, `jpeg-scan-sha256:`), text
/// rules per field (trim, collapse white space, case folding).
///
/// Version 3: images merged only where the model server's decoder (OpenCV `imdecode`, libpng,
/// libjpeg-turbo) provably decodes them alike: EXIF read as OpenCV reads it or keyed on its bytes, JFIF as
/// libjpeg recognises it, the first `eXIf` libpng keeps, the zlib header's window, OpenCV's chunk size cap,
/// interlaced PNGs hashed pass by pass.
///
/// Version 4: the text-rule option that removes white space next to Chinese and Japanese text (`+cjk`);
/// the protocol's configuration name (`paddlex-ocr`, `paddlex-sentiment`) enters the configuration hash;
/// the forward body carries every declared default explicitly.
///
/// Version 5: JPEGs keyed on their frame, quantisation tables and DCT coefficients (`jpeg-dct-sha256:`),
/// so lossless transcodes (other Huffman tables, progressive or baseline, restart intervals) share a key;
/// JPEGs whose coefficients are not read keep the segment digest (`jpeg-scan-sha256:`); the image limits
/// apply to JPEGs.
///
/// Version 6: PDFs keyed on what their pages draw (`pdf-pages-sha256:`): page count, each page's
/// structural digest with references replaced by what they point to, and the catalog entries that can
/// change a rendered page — not metadata, object numbers, cross-reference layout or incremental updates
/// that change no page; a PDF the reader is not sure of keeps the byte digest (`sha256:`).
public enum CanonicalScheme {
    /// The scheme version.
    public static let version = 6
    /// The first field of every key encoding.
    public static let keyTag = "deja-key-v\(version)"
    /// The first field of every configuration-hash encoding.
    public static let policyTag = "deja-policy-v\(version)"
    /// The first field of every ``ContentDigestCache`` raw key.
    public static let contentTag = "deja-content-v\(version)"
}
