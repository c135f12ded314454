/// Usage counted in memory until it is written with ``Ledger/count(_:)``: per hour, tenant, key, task,
/// outcome and status (``UsageCount``), and per hour, tenant, task and content key (``KeyCount``) for
/// the most repeated requests. Exact: every request added is in the sums.
///
/// A value type; the caller guards it (the gateway's ``UsageRecorder`` behind a lock).
public struct UsageTally: Sendable {
    private var usage: [UsageCount.Group: UsageCount] = [:]
    private var keys: [KeyCount.Group: KeyCount] = [:]

    public init() {}

    /// Whether nothing was counted.
    public var isEmpty: Bool { usage.isEmpty && keys.isEmpty }
    /// Requests counted.
    public var requests: Int64 { usage.values.reduce(0) { $0 + $1.requests } }
    /// Rows the ledger writes for this tally: one per group of each kind.
    public var groups: Int { usage.count + keys.count }
    /// Content keys counted; bounded by the caller (``dropKeyCounts()``).
    public var keyGroups: Int { keys.count }

    /// The usage counts, in the order the ledger writes them.
    public var counts: [UsageCount] { usage.values.sorted { $0.group < $1.group } }
    /// The content key counts, in the order the ledger writes them.
    public var keyCounts: [KeyCount] { keys.values.sorted { $0.group < $1.group } }

    /// Counts one answered (or failed) request.
    public mutating func add(_ record: UsageRecord) {
        let hour = UsageCount.hour(of: record.time)
        let cached = record.outcome.isServedFromCache
        let saved = cached ? record.meteredTokens - record.billedTokens : 0
        let group = UsageCount.Group(
            hour: hour, tenant: record.tenant, keyID: record.keyID, task: record.task, outcome: record.outcome, status: record.status
        )
        usage[group, default: UsageCount(group: group, requests: 0, meteredTokens: 0, billedTokens: 0, savedTokens: 0, modelSecondsSaved: 0)]
            .add(UsageCount(group: group, requests: 1, meteredTokens: record.meteredTokens, billedTokens: record.billedTokens,
                            savedTokens: saved, modelSecondsSaved: cached ? record.modelSeconds : 0))
        // As ``Ledger/repeatedKeys(_:)`` counts records: answered requests that got as far as a key.
        guard let key = record.contentKey, record.outcome != .error else { return }
        add(KeyCount(group: KeyCount.Group(hour: hour, tenant: record.tenant, task: record.task, key: key),
                     requests: 1, cached: cached ? 1 : 0, savedTokens: saved, firstSeen: record.time, lastSeen: record.time))
    }

    /// Adds everything `other` counted (a tally whose write failed, put back for the next one).
    public mutating func add(_ other: UsageTally) {
        for count in other.usage.values {
            usage[count.group, default: UsageCount(group: count.group, requests: 0, meteredTokens: 0, billedTokens: 0,
                                                   savedTokens: 0, modelSecondsSaved: 0)].add(count)
        }
        for count in other.keys.values { add(count) }
    }

    /// Forgets the content key counts, keeping the usage counts exact: what a caller whose ledger has been
    /// unreachable for long does to bound memory (the most repeated requests then miss that time).
    public mutating func dropKeyCounts() {
        keys.removeAll()
    }

    private mutating func add(_ count: KeyCount) {
        if var known = keys[count.group] {
            known.requests += count.requests
            known.cached += count.cached
            known.savedTokens += count.savedTokens
            known.firstSeen = min(known.firstSeen, count.firstSeen)
            known.lastSeen = max(known.lastSeen, count.lastSeen)
            keys[count.group] = known
        } else {
            keys[count.group] = count
        }
    }
}

extension UsageCount {
    mutating func add(_ other: UsageCount) {
        requests += other.requests
        meteredTokens += other.meteredTokens
        billedTokens += other.billedTokens
        savedTokens += other.savedTokens
        modelSecondsSaved += other.modelSecondsSaved
    }
}
