/// Bounds on reading a PDF to key it by what its pages draw. Passing one is never an error: the file is
/// keyed on its bytes instead (``PDFFile/NotSure``), as for any structure the reader is not sure of.
struct PDFLimits: Sendable, Hashable {
    /// Most objects the cross-reference sections may define, all revisions together. Default 500 000.
    var maxObjects = 500_000
    /// Deepest nesting of arrays and dictionaries in one object, and of the page tree. Default 64.
    var maxDepth = 64
    /// Longest chain of references to references, and of objects read to find a stream's `/Length`.
    /// Default 64.
    var maxReferenceDepth = 64
    /// Deepest nesting of values and followed references below a page or the catalog. Default 256.
    var maxNesting = 256
    /// Most pages. Default 10 000.
    var maxPages = 10_000
    /// Most cross-reference sections (`/Prev` and `/XRefStm` links). Default 1 000.
    var maxSections = 1_000
    /// Most bytes all decoded streams may take together: the image limits' ``ImageLimits/maxDecodedBytes``.
    var maxDecodedBytes = ImageLimits().maxDecodedBytes
    /// Most objects and stream digests written into page and catalog digests together: a bound on the
    /// work that a file whose objects refer to each other many times over can ask for (shared objects are
    /// written once). Default 1 000 000.
    var maxWork = 1_000_000

    init() {}

    /// The defaults, with the decoded bytes of `limits`.
    init(_ limits: ImageLimits) {
        maxDecodedBytes = limits.maxDecodedBytes
    }
}
