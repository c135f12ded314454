/// Mainland China mobile numbers: `1`, a digit 3 to 9 and nine more digits.
///
/// Written contiguous or as 3-4-4 groups (`138 0013 8000`, `138-0013-8000`, one kind of separator),
/// optionally after the country code `+86`, `+86 `, `+86-`, `86 ` or `86-`. Whether a number that looks
/// right counts is ``MobileContext``'s question.
enum MobileNumber {
    /// The end of the number (prefix included) starting at `start`, or `nil` if none starts there.
    static func end(from start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let numberStart = afterCountryCode(start, in: bytes) else { return nil }
        var index = numberStart
        func digits(_ count: Int) -> Bool {
            guard index + count <= bytes.count else { return false }
            for offset in 0..<count where !SensitiveText.isDigit(bytes[index + offset]) { return false }
            index += count
            return true
        }
        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "1"),
            (UInt8(ascii: "3")...UInt8(ascii: "9")).contains(bytes[index + 1]), digits(3)
        else { return nil }
        if index < bytes.count, isSeparator(bytes[index]) {
            let separator = bytes[index]
            index += 1
            guard digits(4), index < bytes.count, bytes[index] == separator else { return nil }
            index += 1
            guard digits(4) else { return nil }
        } else {
            guard digits(8) else { return nil }
        }
        guard SensitiveText.isBoundary(after: index, in: bytes) else { return nil }
        return index
    }

    /// Where the eleven digits start after an optional country code at `start`; `nil` when `start` holds
    /// a `+` not followed by `86`.
    private static func afterCountryCode(_ start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        func at(_ index: Int, _ ascii: Unicode.Scalar) -> Bool {
            index < bytes.count && bytes[index] == UInt8(ascii: ascii)
        }
        if at(start, "+") {
            guard at(start + 1, "8"), at(start + 2, "6") else { return nil }
            return start + 3 < bytes.count && isSeparator(bytes[start + 3]) ? start + 4 : start + 3
        }
        if at(start, "8"), at(start + 1, "6"), start + 2 < bytes.count, isSeparator(bytes[start + 2]) {
            return start + 3
        }
        return start
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "-")
    }

    /// Keeps the country code, separators, and the first 3 and last 4 of the eleven digits.
    static func mask(_ text: inout [UInt8]) {
        let total = text.count(where: SensitiveText.isDigit)
        let firstOfNumber = total - 11
        var ordinal = 0
        for index in text.indices where SensitiveText.isDigit(text[index]) {
            let position = ordinal - firstOfNumber
            if position >= 3, position < 7 { text[index] = UInt8(ascii: "*") }
            ordinal += 1
        }
    }
}
