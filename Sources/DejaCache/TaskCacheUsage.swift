/// How much one task's entries hold in one store: what a capacity report shows per task and layer.
public struct TaskCacheUsage: Sendable, Hashable, Codable {
    /// The task; empty for entries whose task is unknown (written before entries carried it).
    public var task: String
    /// Entries held.
    public var entries: Int
    /// Bytes they take: the memory charge in L1, the stored (sealed) value in SQLite and Redis. Estimated
    /// from the sample when ``sampled`` is set.
    public var bytes: Int64
    /// Mean entry size in bytes.
    public var meanBytes: Double
    /// The 99th percentile entry size in bytes (nearest rank).
    public var p99Bytes: Int
    /// How many entries the sizes were measured on, when not all of them (Redis samples its index).
    public var sampled: Int?

    public init(task: String, entries: Int, bytes: Int64, meanBytes: Double, p99Bytes: Int, sampled: Int? = nil) {
        self.task = task
        self.entries = entries
        self.bytes = bytes
        self.meanBytes = meanBytes
        self.p99Bytes = p99Bytes
        self.sampled = sampled
    }

    /// The usage of `entries` entries whose sizes, all or a sample (then `sampled` is its size), are `sizes`.
    public init(task: String, entries: Int, sizes: [Int], sampled: Int? = nil) {
        let sorted = sizes.sorted()
        let mean = sorted.isEmpty ? 0 : Double(sorted.reduce(0, +)) / Double(sorted.count)
        self.init(
            task: task, entries: entries, bytes: Int64((mean * Double(entries)).rounded()), meanBytes: mean,
            p99Bytes: Self.nearestRank(sorted, percentile: 99), sampled: sampled)
    }

    /// The nearest-rank percentile of ascending `sorted` values: the value at rank ⌈p/100 × n⌉; 0 when empty.
    public static func nearestRank(_ sorted: [Int], percentile: Int) -> Int {
        guard !sorted.isEmpty else { return 0 }
        return sorted[nearestRankIndex(count: sorted.count, percentile: percentile)]
    }

    /// The zero-based index of the nearest-rank percentile among `count` ascending values (⌈p/100 × n⌉ − 1).
    public static func nearestRankIndex(count: Int, percentile: Int) -> Int {
        max(0, min(count - 1, (percentile * count + 99) / 100 - 1))
    }
}
