/// Bounds the JSON parser enforces so that a hostile body costs at most linear time and memory.
///
/// Passing any bound fails parsing with ``CanonicalError/Code/limitExceeded``. The defaults suit request
/// bodies of up to tens of megabytes (large base64 images) while rejecting pathological shapes.
public struct JSONLimits: Sendable, Hashable {
    /// Deepest nesting of arrays and objects; the top-level object is depth 1.
    public var maxDepth: Int
    /// Longest string, in bytes after unescaping.
    public var maxStringBytes: Int
    /// Most members in one array or object.
    public var maxMembers: Int
    /// Most values in the whole document (array elements plus object members).
    public var maxTotalFields: Int
    /// Longest number literal, in bytes.
    public var maxNumberLength: Int

    /// Creates limits; every argument has a default.
    public init(
        maxDepth: Int = 64,
        maxStringBytes: Int = 64 << 20,
        maxMembers: Int = 100_000,
        maxTotalFields: Int = 1_000_000,
        maxNumberLength: Int = 1_024
    ) {
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxMembers = maxMembers
        self.maxTotalFields = maxTotalFields
        self.maxNumberLength = maxNumberLength
    }
}
