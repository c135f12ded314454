/// Unified social credit codes (GB 32100-2015): registration authority, organisation type, six-digit
/// region code, nine-character organisation code and a check character, from a 31-character alphabet.
enum CreditCode {
    static let length = 18

    /// The code characters in value order; no I, O, S, V or Z. Upper case only.
    static let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY".utf8)

    /// The registration authorities the first character may name.
    static let authorities = Set("123456789ABCDEFGNY".utf8)

    /// Weights of the first 17 characters in the check sum (3^i mod 31).
    static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

    /// Each ASCII byte's value in ``alphabet``, or -1.
    private static let values: [Int8] = {
        var values = [Int8](repeating: -1, count: 128)
        for (value, byte) in alphabet.enumerated() { values[Int(byte)] = Int8(value) }
        return values
    }()

    /// The value of `byte` in ``alphabet``, or `nil`.
    static func value(of byte: UInt8) -> Int? {
        guard byte < 0x80, values[Int(byte)] >= 0 else { return nil }
        return Int(values[Int(byte)])
    }

    /// The end of the credit code starting at `start`, or `nil` if none starts there (wrong alphabet,
    /// authority or region digits, wrong check character, or followed by an ASCII letter or digit).
    static func end(from start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let end = start + length
        guard end <= bytes.count, SensitiveText.isBoundary(after: end, in: bytes),
            authorities.contains(bytes[start])
        else { return nil }
        var sum = 0
        for offset in 0..<17 {
            let byte = bytes[start + offset]
            guard let value = value(of: byte) else { return nil }
            if (2..<8).contains(offset), !SensitiveText.isDigit(byte) { return nil }
            sum += value * weights[offset]
        }
        let check = (31 - sum % 31) % 31
        return bytes[start + 17] == alphabet[check] ? end : nil
    }

    /// Keeps the first 8 characters (authority, type, region) and the check character.
    static func mask(_ text: inout [UInt8]) {
        for offset in 8..<min(17, text.count) { text[offset] = UInt8(ascii: "*") }
    }
}
