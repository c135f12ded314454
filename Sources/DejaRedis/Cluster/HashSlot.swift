/// A Redis Cluster hash slot, 0..<16384: CRC16 (XMODEM) of the key, or of its `{hash tag}`, mod 16384.
public struct HashSlot: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The number of slots in a cluster.
    public static let count = 16384

    /// The slot number.
    public let rawValue: UInt16

    /// A slot from its number; `nil` outside 0..<16384.
    public init?(rawValue: Int) {
        guard rawValue >= 0, rawValue < Self.count else { return nil }
        self.rawValue = UInt16(rawValue)
    }

    /// The slot of `key`: if the key has a `{` followed later by a `}` with at least one byte between,
    /// only the bytes between the first `{` and the next `}` are hashed.
    public init<Bytes: Collection>(key: Bytes) where Bytes.Element == UInt8 {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                hashed = key[afterOpen..<close]
            }
        }
        rawValue = Self.crc16(hashed) & 0x3FFF
    }

    /// The slot of a text key.
    public init(key: String) { self.init(key: Array(key.utf8)) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
    public static func crc16<Bytes: Sequence>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte)) & 0xFF]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
