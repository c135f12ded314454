import Synchronization

/// Makes version-4 UUIDs (RFC 9562 §5.4) for `logId`s, without a system call or a lock.
///
/// Each id is two outputs of SplitMix64 — a bijection of 64-bit words — over a counter that starts at
/// a random value, keyed by a random per-process secret, with the version and variant bits set: ids
/// look random, no two in a process repeat before 2^63 of them, and one costs a few multiplications.
/// They name requests in logs; they are not secrets.
final class LogIdGenerator: Sendable {
    static let shared = LogIdGenerator()

    private let secret = UInt64.random(in: 0...UInt64.max)
    private let counter = Atomic<UInt64>(UInt64.random(in: 0...UInt64.max))

    func next() -> String {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue &* 2
        let high = (Self.mix(count ^ secret) & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000  // version 4
        let low = (Self.mix((count | 1) ^ secret) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000  // variant 10
        return Self.format(high: high, low: low)
    }

    /// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection that scatters every input bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex, `high` then `low`.
    static func format(high: UInt64, low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[index] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xf)]
                    index += 1
                }
            }
            func dash() {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            put(high >> 32, nibbles: 8)
            dash()
            put(high >> 16, nibbles: 4)
            dash()
            put(high, nibbles: 4)
            dash()
            put(low >> 48, nibbles: 4)
            dash()
            put(low, nibbles: 12)
            return index
        }
    }
}
