/// Decoding the content of a JSON string token that has escapes, remembering where each decoded byte
/// came from so that an edit of the text can be made to the token's own spelling.
enum JSONEscapes {
    /// The length of the valid escape at `start` (a backslash): 2, or 6 for `\uXXXX`; `nil` if invalid.
    static func escapeLength(at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard start + 1 < bytes.count else { return nil }
        switch bytes[start + 1] {
        case .quote, .backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
            UInt8(ascii: "r"), UInt8(ascii: "t"):
            return 2
        case UInt8(ascii: "u"):
            return hex4(at: start + 2, in: bytes) == nil ? nil : 6
        default:
            return nil
        }
    }

    /// The UTF-8 text `content` (a valid string token's content) spells, and for each decoded byte the
    /// offset in `content` of the character or escape it came from. A lone surrogate escape decodes to
    /// U+FFFD.
    static func decode(_ content: UnsafeBufferPointer<UInt8>) -> (text: [UInt8], sources: [Int]) {
        var text: [UInt8] = []
        var sources: [Int] = []
        text.reserveCapacity(content.count)
        sources.reserveCapacity(content.count)
        var index = 0
        while index < content.count {
            let byte = content[index]
            guard byte == .backslash, let length = escapeLength(at: index, in: content) else {
                text.append(byte)
                sources.append(index)
                index += 1
                continue
            }
            var scalar: UInt32
            var consumed = length
            switch content[index + 1] {
            case UInt8(ascii: "b"): scalar = 0x08
            case UInt8(ascii: "f"): scalar = 0x0C
            case UInt8(ascii: "n"): scalar = 0x0A
            case UInt8(ascii: "r"): scalar = 0x0D
            case UInt8(ascii: "t"): scalar = 0x09
            case UInt8(ascii: "u"):
                scalar = hex4(at: index + 2, in: content) ?? 0xFFFD
                if (0xD800..<0xDC00).contains(scalar), index + 11 < content.count, content[index + 6] == .backslash,
                    content[index + 7] == UInt8(ascii: "u"), let low = hex4(at: index + 8, in: content),
                    (0xDC00..<0xE000).contains(low)
                {
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                    consumed = 12
                } else if (0xD800..<0xE000).contains(scalar) {
                    scalar = 0xFFFD
                }
            default: scalar = UInt32(content[index + 1])  // " \ /
            }
            for unit in Unicode.Scalar(scalar)!.utf8 {
                text.append(unit)
                sources.append(index)
            }
            index += consumed
        }
        return (text, sources)
    }

    /// How many bytes of `content` the character or escape at `offset` spans.
    static func unitLength(at offset: Int, in content: UnsafeBufferPointer<UInt8>) -> Int {
        content[offset] == .backslash ? escapeLength(at: offset, in: content) ?? 1 : 1
    }

    private static func hex4(at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard start + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[start..<start + 4] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"):
                digit = (byte | 0x20) - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}
