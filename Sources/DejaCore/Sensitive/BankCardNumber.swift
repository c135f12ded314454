/// Bank card numbers: 16 to 19 digits whose first digit is 3 to 6 (American Express, Visa, Mastercard,
/// UnionPay, Discover, JCB, …) and that pass the Luhn check.
///
/// The digits are contiguous or written in groups of at least three, all separated by single spaces or
/// all by single hyphens (`6222 0212 3456 7890`, `6222-0212-3456-7890-123`, `622202 1234567890123`).
/// When groups run on past a valid card, the longest valid card that ends at a group's end is taken.
enum BankCardNumber {
    static let digitCounts = 16...19

    /// The end of the card number starting at `start`, or `nil` if none starts there.
    static func end(from start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard (UInt8(ascii: "3")...UInt8(ascii: "6")).contains(bytes[start]) else { return nil }
        var index = start
        var digits = 0
        var separator: UInt8?
        var best: Int?
        while true {
            let groupStart = index
            while index < bytes.count, SensitiveText.isDigit(bytes[index]), digits <= digitCounts.upperBound {
                index += 1
                digits += 1
            }
            guard digits <= digitCounts.upperBound, index - groupStart >= 3 else { break }
            if digitCounts.contains(digits), SensitiveText.isBoundary(after: index, in: bytes),
                passesLuhn(bytes, start..<index)
            {
                best = index
            }
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "-"),
                separator == nil || separator == bytes[index], SensitiveText.isDigit(bytes[index + 1])
            else { break }
            separator = bytes[index]
            index += 1
        }
        return best
    }

    /// Whether the digits in `range` (separators skipped) pass the Luhn check.
    static func passesLuhn(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var sum = 0
        var doubles = false
        for index in range.reversed() where SensitiveText.isDigit(bytes[index]) {
            let digit = Int(bytes[index] - UInt8(ascii: "0"))
            sum += doubles ? (digit * 2 > 9 ? digit * 2 - 9 : digit * 2) : digit
            doubles.toggle()
        }
        return sum % 10 == 0
    }

    /// Hides the digits between the first 6 and the last 4; separators stay.
    static func mask(_ text: inout [UInt8]) {
        let total = text.count(where: SensitiveText.isDigit)
        var ordinal = 0
        for index in text.indices where SensitiveText.isDigit(text[index]) {
            if ordinal >= 6, ordinal < total - 4 { text[index] = UInt8(ascii: "*") }
            ordinal += 1
        }
    }
}
