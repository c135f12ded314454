/// Fast scanning of UTF-8 string bytes for the characters JSON treats specially.
enum StringScan {
    /// The first position at or after `start` holding `"`, `\` or a control character (< 0x20), or `end`.
    ///
    /// Checks eight bytes at a time with SWAR arithmetic; the "has a byte below n" and "has a zero byte"
    /// tricks are exact about whether any byte in the word matches.
    @inline(__always)
    static func firstSpecial(in base: UnsafePointer<UInt8>, from start: Int, to end: Int) -> Int {
        var position = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while position + 8 <= end {
            let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
            let quotes = word ^ (ones &* 0x22)
            let backslashes = word ^ (ones &* 0x5C)
            let hasQuote = (quotes &- ones) & ~quotes
            let hasBackslash = (backslashes &- ones) & ~backslashes
            let hasControl = (word &- ones &* 0x20) & ~word
            if (hasQuote | hasBackslash | hasControl) & highs != 0 { break }
            position += 8
        }
        while position < end {
            let byte = base[position]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 { break }
            position += 1
        }
        return position
    }
}
