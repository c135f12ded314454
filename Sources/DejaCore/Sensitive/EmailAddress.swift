/// ASCII e-mail addresses, `local@domain.tld`.
///
/// The local part is letters, digits and ``localSymbols``, without a leading, trailing or doubled dot;
/// the domain has at least two labels of letters, digits and hyphens (no hyphen at either end of a
/// label, at most 63 characters), and the last label is at least two letters. Dots after the domain end
/// a sentence and are not part of it.
enum EmailAddress {
    /// The symbols RFC 5322 allows in an unquoted local part.
    static let localSymbols = Set("!#$%&'*+/=?^_`{|}~-.".utf8)

    static func isLocalByte(_ byte: UInt8) -> Bool {
        SensitiveText.isAlphanumeric(byte) || localSymbols.contains(byte)
    }

    static func isDomainByte(_ byte: UInt8) -> Bool {
        SensitiveText.isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// The address around the `@` at `at`, or `nil` if the bytes around it do not make one.
    ///
    /// The local part reaches back as far as local-part bytes go and the domain forward as far as domain
    /// bytes go, so neither is ever next to an ASCII letter or digit; neither crosses another `@`, so
    /// finding every address costs time linear in the text.
    static func range(around at: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var start = at
        while start > 0, isLocalByte(bytes[start - 1]) { start -= 1 }
        var end = at + 1
        while end < bytes.count, isDomainByte(bytes[end]) { end += 1 }
        while end > at + 1, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        guard isLocalPart(bytes, start..<at), isDomain(bytes, at + 1..<end) else { return nil }
        return start..<end
    }

    private static func isLocalPart(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        let dot = UInt8(ascii: ".")
        guard !range.isEmpty, bytes[range.lowerBound] != dot, bytes[range.upperBound - 1] != dot else { return false }
        return !range.dropFirst().contains { bytes[$0] == dot && bytes[$0 - 1] == dot }
    }

    private static func isDomain(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var labels = 0
        var labelStart = range.lowerBound
        var topLevel = range
        for index in range.lowerBound...range.upperBound where index == range.upperBound || bytes[index] == UInt8(ascii: ".") {
            let label = labelStart..<index
            guard (1...63).contains(label.count), bytes[label.lowerBound] != UInt8(ascii: "-"),
                bytes[label.upperBound - 1] != UInt8(ascii: "-")
            else { return false }
            labels += 1
            topLevel = label
            labelStart = index + 1
        }
        return labels >= 2 && topLevel.count >= 2 && topLevel.allSatisfy { SensitiveText.isLetter(bytes[$0]) }
    }

    /// Keeps the first character of the local part, the `@` and the domain.
    static func mask(_ text: inout [UInt8]) {
        guard let at = text.firstIndex(of: UInt8(ascii: "@")) else { return }
        for index in 1..<max(1, at) { text[index] = UInt8(ascii: "*") }
    }
}
