import Foundation

/// How much memory a workload needs in the memory tier (L1) and in Redis: the arithmetic behind
/// `deja capacity --requests N --repeat-ratio R`.
///
/// The model: of `requests` requests, a fraction `repeatRatio` repeats an earlier request, so
/// `distinct = ⌈requests × (1 − repeatRatio)⌉` answers are stored, each once. It assumes every distinct
/// answer is retained for the whole period (no expiry within it), that entries are the size measured
/// today (the mean per entry), and that repeats are spread evenly (no hot set smaller than the whole). L1
/// bytes are distinct × the mean memory charge per entry (``DejaCache/MemoryStore/charge(for:)``: body,
/// metadata allowance and key overhead); Redis bytes are distinct × (mean stored value + the per-key
/// overhead measured on the server + the index member), added to what Redis uses now.
public struct CapacityPlan: Sendable, Equatable, Codable {
    /// What the projection starts from.
    public struct Inputs: Sendable, Equatable, Codable {
        public var requests: Int
        public var repeatRatio: Double
        /// Mean memory charge of one entry in L1, bytes.
        public var l1BytesPerEntry: Double
        /// The memory tier's budget, bytes.
        public var l1Budget: Int64
        /// Mean bytes one entry takes in Redis (value, key overhead, index member); `nil` without Redis.
        public var redisBytesPerEntry: Double?
        /// Redis `used_memory` now, bytes.
        public var redisUsed: Int64
        /// Redis `maxmemory`, bytes; 0 means unlimited.
        public var redisMax: Int64

        public init(requests: Int, repeatRatio: Double, l1BytesPerEntry: Double, l1Budget: Int64,
                    redisBytesPerEntry: Double? = nil, redisUsed: Int64 = 0, redisMax: Int64 = 0) {
            self.requests = requests
            self.repeatRatio = repeatRatio
            self.l1BytesPerEntry = l1BytesPerEntry
            self.l1Budget = l1Budget
            self.redisBytesPerEntry = redisBytesPerEntry
            self.redisUsed = redisUsed
            self.redisMax = redisMax
        }
    }

    public var inputs: Inputs
    /// Answers stored: ⌈requests × (1 − repeatRatio)⌉.
    public var distinctEntries: Int
    /// L1 bytes to hold every distinct answer.
    public var l1Bytes: Int64
    /// The share of distinct answers the L1 budget holds (1 when all fit); the rest are read from L2.
    public var l1Share: Double
    /// Redis bytes the new answers add; `nil` without Redis.
    public var redisBytes: Int64?
    /// Redis use after storing them (now + added); `nil` without Redis.
    public var redisAfter: Int64?
    /// Whether Redis stays under `maxmemory` (no evictions); `nil` without Redis or without a limit.
    public var redisFits: Bool?

    /// Computes the projection; `requests` below 0 count as 0 and `repeatRatio` is clamped to [0, 1].
    public init(_ inputs: Inputs) {
        self.inputs = inputs
        let ratio = min(1, max(0, inputs.repeatRatio))
        // Rounded to a millionth first, so that 1,000,000 × (1 − 0.7) = 300,000.00000000006 is 300,000.
        let exact = (Double(max(0, inputs.requests)) * (1 - ratio) * 1e6).rounded() / 1e6
        distinctEntries = Int(exact.rounded(.up))
        l1Bytes = Int64((Double(distinctEntries) * inputs.l1BytesPerEntry).rounded(.up))
        l1Share = l1Bytes <= inputs.l1Budget ? 1 : Double(inputs.l1Budget) / Double(l1Bytes)
        if let perEntry = inputs.redisBytesPerEntry {
            let added = Int64((Double(distinctEntries) * perEntry).rounded(.up))
            redisBytes = added
            redisAfter = inputs.redisUsed + added
            redisFits = inputs.redisMax > 0 ? inputs.redisUsed + added <= inputs.redisMax : nil
        }
    }

    /// One line per layer saying whether the workload fits, for people.
    public var verdict: [String] {
        var lines: [String] = []
        if l1Share >= 1 {
            lines.append("L1: fits: \(Self.bytes(l1Bytes)) of \(Self.bytes(inputs.l1Budget)) budget")
        } else {
            let percent = Int((l1Share * 100).rounded(.down))
            lines.append("L1: does not fit: needs \(Self.bytes(l1Bytes)), budget \(Self.bytes(inputs.l1Budget)); "
                         + "it holds the most recent \(percent)% and the rest is read from L2")
        }
        if let redisBytes, let redisAfter {
            switch redisFits {
            case true?:
                lines.append("Redis: fits: +\(Self.bytes(redisBytes)), \(Self.bytes(redisAfter)) of \(Self.bytes(inputs.redisMax)) maxmemory")
            case false?:
                lines.append("Redis: does not fit: +\(Self.bytes(redisBytes)) makes \(Self.bytes(redisAfter)) over \(Self.bytes(inputs.redisMax)) maxmemory; "
                             + "Redis will evict: raise maxmemory or add shards")
            case nil:
                lines.append("Redis: +\(Self.bytes(redisBytes)), \(Self.bytes(redisAfter)) in all; no maxmemory set, so nothing bounds it: set one")
            }
        }
        return lines
    }

    /// Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `2.0 GiB`.
    public static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
