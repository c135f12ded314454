import Synchronization

/// Makes UUID-shaped log ids from a random per-process prefix and a counter.
final class LogIdGenerator: Sendable {
    static let shared = LogIdGenerator()

    private let prefix = UInt64.random(in: 0...UInt64.max)
    private let counter = Atomic<UInt64>(UInt64.random(in: 0...UInt64(UInt32.max)))

    func next() -> String {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
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
            put(prefix >> 32, nibbles: 8)
            dash()
            put(prefix >> 16, nibbles: 4)
            dash()
            put(prefix, nibbles: 4)
            dash()
            put(count >> 48, nibbles: 4)
            dash()
            put(count, nibbles: 12)
            return index
        }
    }
}
