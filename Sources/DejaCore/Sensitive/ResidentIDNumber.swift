/// Mainland China resident ID numbers (GB 11643-1999): a six-digit address code, a birth date
/// `YYYYMMDD`, a three-digit sequence number and a check character.
enum ResidentIDNumber {
    static let length = 18

    /// Weights of the first 17 digits in the check sum.
    static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

    /// The check character for each value of the weighted sum modulo 11.
    static let checkCharacters = Array("10X98765432".utf8)

    /// The provinces, autonomous regions, municipalities and special administrative regions that the first two
    /// digits name.
    static let provinceCodes: Set<Int> = Set(11...15).union(21...23).union(31...37).union(41...46).union(50...54)
        .union(61...65).union([71, 81, 82])

    /// The end of the ID number starting at `start`, or `nil` if none starts there (wrong shape, province,
    /// date or check character, or followed by an ASCII letter or digit).
    static func end(from start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let end = start + length
        guard end <= bytes.count, SensitiveText.isBoundary(after: end, in: bytes) else { return nil }
        var sum = 0
        for offset in 0..<17 {
            let byte = bytes[start + offset]
            guard SensitiveText.isDigit(byte) else { return nil }
            sum += Int(byte - UInt8(ascii: "0")) * weights[offset]
        }
        let last = bytes[start + 17]
        let check = last == UInt8(ascii: "x") ? UInt8(ascii: "X") : last
        guard check == checkCharacters[sum % 11] else { return nil }
        func number(_ offset: Int, _ count: Int) -> Int {
            (offset..<offset + count).reduce(0) { $0 * 10 + Int(bytes[start + $1] - UInt8(ascii: "0")) }
        }
        guard provinceCodes.contains(number(0, 2)),
            isDate(year: number(6, 4), month: number(10, 2), day: number(12, 2))
        else { return nil }
        return end
    }

    /// Whether the date exists in the Gregorian calendar, between 1900 and 2099.
    static func isDate(year: Int, month: Int, day: Int) -> Bool {
        guard (1900...2099).contains(year), (1...12).contains(month), day >= 1 else { return false }
        let isLeap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }

    /// Hides the birth date and sequence number: keeps the first 6 and the last 4 characters.
    static func mask(_ text: inout [UInt8]) {
        for offset in 6..<min(14, text.count) { text[offset] = UInt8(ascii: "*") }
    }
}
