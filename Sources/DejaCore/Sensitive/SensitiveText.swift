/// Byte-level helpers the sensitive-data detectors share: ASCII classes, match boundaries, and stepping
/// over UTF-8 scalars.
///
/// The detectors read UTF-8 bytes, not `Character`s: every match is ASCII, so a byte offset is also a
/// character offset inside it, and a byte of a multi-byte scalar is never an ASCII letter or digit.
/// Invalid UTF-8 is tolerated: a byte that does not start a valid scalar counts as one character.
enum SensitiveText {
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) &- UInt8(ascii: "a") < 26
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isDigit(byte) || isLetter(byte)
    }

    /// Whether a match may start at `start`: it is not in the middle of a run of ASCII letters and digits.
    static func isBoundary(before start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        start == 0 || !isAlphanumeric(bytes[start - 1])
    }

    /// Whether a match may end at `end` (exclusive): no ASCII letter or digit follows.
    static func isBoundary(after end: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        end == bytes.count || !isAlphanumeric(bytes[end])
    }

    /// Whether `word` is spelled at `start` in `bytes`.
    static func has(_ word: [UInt8], at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard start >= 0, start + word.count <= bytes.count else { return false }
        for offset in word.indices where bytes[start + offset] != word[offset] { return false }
        return true
    }

    /// The scalar starting at `index` and its length in bytes; `nil` value when the bytes there are not
    /// valid UTF-8 (the length is then 1).
    static func scalar(at index: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (value: UInt32?, length: Int) {
        let lead = bytes[index]
        let length: Int
        var value: UInt32
        switch lead {
        case 0..<0x80: return (UInt32(lead), 1)
        case 0xC2..<0xE0: (length, value) = (2, UInt32(lead & 0x1F))
        case 0xE0..<0xF0: (length, value) = (3, UInt32(lead & 0x0F))
        case 0xF0..<0xF5: (length, value) = (4, UInt32(lead & 0x07))
        default: return (nil, 1)
        }
        guard index + length <= bytes.count else { return (nil, 1) }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return (nil, 1) }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        let shortest: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard value >= shortest, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return (nil, 1) }
        return (value, length)
    }

    /// The start of the scalar that ends at `end` (exclusive, > 0) and its value (`nil` if invalid).
    static func scalar(endingAt end: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (value: UInt32?, start: Int) {
        var start = end - 1
        while start > 0, end - start < 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        let decoded = scalar(at: start, in: bytes)
        guard decoded.value != nil, start + decoded.length == end else { return (nil, end - 1) }
        return (decoded.value, start)
    }

    /// Whether `scalar` has the Unicode White_Space property (ASCII blanks, U+00A0, U+3000, …).
    static func isWhiteSpace(_ scalar: UInt32?) -> Bool {
        guard let scalar, let unicode = Unicode.Scalar(scalar) else { return false }
        return unicode.properties.isWhitespace
    }
}
