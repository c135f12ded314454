import DejaCache

/// What `GET /admin/capacity` answers and `deja capacity` prints: per task, entries and sizes in each
/// layer and the hit ratio over the last hour; the memory tier's budget and use; Redis's memory figures.
public struct CapacityReport: Sendable, Codable, Equatable {
    /// One task's figures.
    public struct TaskRow: Sendable, Codable, Equatable {
        public var task: String
        /// This instance's memory tier; `nil` without one.
        public var memory: TaskCacheUsage?
        /// The persistent store (SQLite, or Redis with sizes from a sample); `nil` with memory only.
        public var store: TaskCacheUsage?
        /// Requests over the last hour, every instance (from the ledger).
        public var requestsLastHour: Int64
        /// `(hits + coalesced) / (requests − errors)` over the last hour, every instance.
        public var hitRatioLastHour: Double
    }

    /// The memory tier of the instance that answered.
    public struct Memory: Sendable, Codable, Equatable {
        public var budgetBytes: Int64
        public var usedBytes: Int64
        public var entries: Int
    }

    /// Redis's figures, summed over primaries.
    public struct Redis: Sendable, Codable, Equatable {
        public var usedMemory: Int64
        public var maxMemory: Int64
        public var evictedKeys: Int64
        /// Bytes Redis charges per key beyond its value (`MEMORY USAGE` of a probe key minus its value
        /// length); `nil` when the server refuses `MEMORY USAGE`.
        public var perKeyOverheadBytes: Int?
        /// Allowance per entry for its member in the version index (a fixed estimate: the 81-byte member
        /// plus sorted-set bookkeeping).
        public var indexMemberBytes: Int
    }

    /// `redis`, `sqlite` or `memory`: where answers persist.
    public var store: String
    public var tasks: [TaskRow]
    public var memory: Memory?
    public var redis: Redis?

    /// The allowance ``Redis/indexMemberBytes`` reports.
    public static let indexMemberAllowance = 128

    /// The projection's inputs for `requests` requests at `repeatRatio`, with entry sizes measured for
    /// `task` (all tasks, weighted by entries, when `nil`); `nil` when no entry was measured yet.
    ///
    /// The L1 charge per entry is the memory tier's mean when it holds entries of the task(s); else the
    /// persistent store's mean stored size plus ``DejaCache/MemoryStore/keyOverhead`` and the 128-byte
    /// allowance of ``DejaCore/CacheEntry/chargedBytes``. Redis's per entry is the stored mean plus the
    /// measured per-key overhead and the index member allowance.
    public func planInputs(requests: Int, repeatRatio: Double, task: String?) -> CapacityPlan.Inputs? {
        let rows = tasks.filter { task == nil || $0.task == task }
        let memoryMean = Self.weightedMean(rows.compactMap(\.memory))
        let storeMean = Self.weightedMean(rows.compactMap(\.store))
        guard let l1PerEntry = memoryMean ?? storeMean.map({ $0 + Double(MemoryStore.keyOverhead + 128) }) else { return nil }
        var inputs = CapacityPlan.Inputs(
            requests: requests, repeatRatio: repeatRatio, l1BytesPerEntry: l1PerEntry, l1Budget: memory?.budgetBytes ?? 0)
        if let redis, let storeMean {
            inputs.redisBytesPerEntry = storeMean + Double((redis.perKeyOverheadBytes ?? 0) + redis.indexMemberBytes)
            inputs.redisUsed = redis.usedMemory
            inputs.redisMax = redis.maxMemory
        }
        return inputs
    }

    /// The mean entry size over `usages`, weighted by their entries; `nil` when they hold none.
    static func weightedMean(_ usages: [TaskCacheUsage]) -> Double? {
        let entries = usages.reduce(0) { $0 + $1.entries }
        guard entries > 0 else { return nil }
        return usages.reduce(0) { $0 + $1.meanBytes * Double($1.entries) } / Double(entries)
    }
}
