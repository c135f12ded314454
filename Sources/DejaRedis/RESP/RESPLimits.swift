/// Bounds the decoder enforces on what the server sends; nothing the wire declares is trusted beyond them.
public struct RESPLimits: Sendable, Hashable {
    /// Largest bulk string, bulk error or verbatim string accepted, in bytes. Default 512 MiB (Redis' own cap).
    public var maxBulkLength: Int
    /// Deepest nesting of aggregates accepted; a top-level scalar has depth 1. Default 64.
    public var maxDepth: Int
    /// Most elements one aggregate may declare (a map counts its pairs twice). Default 16 Mi.
    public var maxAggregateCount: Int
    /// Longest line (simple string, simple error, number) accepted, in bytes. Default 64 KiB.
    public var maxLineLength: Int

    public init(
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxDepth: Int = 64,
        maxAggregateCount: Int = 16 * 1024 * 1024,
        maxLineLength: Int = 64 * 1024
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxDepth = maxDepth
        self.maxAggregateCount = maxAggregateCount
        self.maxLineLength = maxLineLength
    }

    /// The defaults.
    public static let `default` = RESPLimits()
}
