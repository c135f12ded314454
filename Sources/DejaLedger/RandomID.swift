/// Random ids and secrets drawn from the system's generator, 64 bits per draw.
///
/// `SystemRandomNumberGenerator` asks the kernel on every `next()` (a `getrandom` call on Linux); drawing
/// each hex digit or byte on its own cost a reservation id 24 system calls on every billed miss.
enum RandomID {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `count` random lowercase hex digits.
    static func hex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var text: [UInt8] = []
        text.reserveCapacity(count)
        var bits: UInt64 = 0
        for index in 0..<count {
            if index % 16 == 0 { bits = generator.next() }
            text.append(digits[Int(bits & 0xF)])
            bits >>= 4
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `count` random bytes.
    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var bits: UInt64 = 0
        for index in 0..<count {
            if index % 8 == 0 { bits = generator.next() }
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
        return bytes
    }
}
