import Crypto

/// The unambiguous byte encoding that cache keys and configuration hashes are SHA-256 digests of.
///
/// Each field is written as its length in 8 bytes, big-endian, followed by its bytes. The encoding of a
/// sequence of fields is injective: ``decode(_:)`` recovers the fields, so no two different sequences
/// encode alike (`("ab", "c")` and `("a", "bc")` differ).
public enum KeyEncoding {
    /// Concatenates the length-prefixed fields.
    public static func encode(fields: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fields.reduce(0) { $0 + 8 + $1.count })
        for field in fields {
            let length = UInt64(field.count)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift)))
            }
            out.append(contentsOf: field)
        }
        return out
    }

    /// Splits an encoding back into its fields; `nil` if the bytes are not a valid encoding.
    public static func decode(_ bytes: [UInt8]) -> [[UInt8]]? {
        var fields: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            guard bytes.count - index >= 8 else { return nil }
            var length: UInt64 = 0
            for byte in bytes[index..<index + 8] { length = length << 8 | UInt64(byte) }
            index += 8
            guard length <= UInt64(bytes.count - index) else { return nil }
            fields.append(Array(bytes[index..<index + Int(length)]))
            index += Int(length)
        }
        return fields
    }

    /// SHA-256 of ``encode(fields:)``.
    public static func digest(fields: [[UInt8]]) -> SHA256.Digest {
        SHA256.hash(data: encode(fields: fields))
    }
}
