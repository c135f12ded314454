/// When a number shaped like a mobile number counts as one: a context word before it, or nothing but
/// the number in its text.
///
/// An ASCII context word counts only at the start of a word (`iphone` is not `phone`); it may run on
/// into more letters (`Telephone`, `Mobile`).
enum MobileContext {
    /// The words that say a phone number follows, longer spellings before their prefixes.
    static let words: [[UInt8]] = [
        "手机", "手機", "电话", "電話", "联系", "聯繫", "热线", "致电",
        "TEL", "Tel", "Phone", "phone", "Mobile", "mobile", "Mob",
    ].map { Array($0.utf8) }

    /// How many characters may stand between a context word and the number.
    static let window = 12

    /// Whether a context word ends at most ``window`` characters before `start`.
    static func hasWord(before start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = start
        for step in 0...window {
            if wordStart(endingAt: end, in: bytes) != nil { return true }
            guard step < window, end > 0 else { return false }
            end = SensitiveText.scalar(endingAt: end, in: bytes).start
        }
        return false
    }

    /// Whether `bytes`, with white space, `:` and `：` trimmed from its end, ends with a context word
    /// (the previous line said "电话：").
    static func endsWithWord(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var end = bytes.count
        while end > 0 {
            let (value, start) = SensitiveText.scalar(endingAt: end, in: bytes)
            guard SensitiveText.isWhiteSpace(value) || value == 0x3A || value == 0xFF1A else { break }
            end = start
        }
        return wordStart(endingAt: end, in: bytes) != nil
    }

    /// `bytes` without the leading and trailing white space, `:：()（）` and context words: a number
    /// that is exactly this range stands alone.
    static func trimmedRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var start = 0
        while start < bytes.count {
            let (value, length) = SensitiveText.scalar(at: start, in: bytes)
            if isTrimmable(value) {
                start += length
            } else if let end = wordEnd(startingAt: start, in: bytes) {
                start = end
            } else {
                break
            }
        }
        var end = bytes.count
        while end > start {
            let (value, scalarStart) = SensitiveText.scalar(endingAt: end, in: bytes)
            if isTrimmable(value) {
                end = scalarStart
            } else if let wordStart = wordStart(endingAt: end, in: bytes), wordStart >= start {
                end = wordStart
            } else {
                break
            }
        }
        return start..<end
    }

    private static func isTrimmable(_ scalar: UInt32?) -> Bool {
        switch scalar {
        case 0x3A, 0x28, 0x29, 0xFF1A, 0xFF08, 0xFF09: true  // : ( ) ： （ ）
        default: SensitiveText.isWhiteSpace(scalar)
        }
    }

    /// The start of a context word that ends at `end`, or `nil`.
    private static func wordStart(endingAt end: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        for word in words {
            let start = end - word.count
            if SensitiveText.has(word, at: start, in: bytes), startsWord(word, at: start, in: bytes) { return start }
        }
        return nil
    }

    /// The end of a context word that starts at `start`, or `nil`.
    private static func wordEnd(startingAt start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        for word in words where SensitiveText.has(word, at: start, in: bytes) && startsWord(word, at: start, in: bytes) {
            return start + word.count
        }
        return nil
    }

    /// An ASCII word must not continue a run of letters.
    private static func startsWord(_ word: [UInt8], at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !SensitiveText.isLetter(word[0]) || start == 0 || !SensitiveText.isLetter(bytes[start - 1])
    }
}
