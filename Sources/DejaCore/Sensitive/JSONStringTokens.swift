/// The string values of a JSON document as spelled in its bytes, found in one pass that also checks
/// that the bytes are one valid JSON text.
///
/// Unlike ``JSONValue/init(parsing:limits:)`` this builds no tree and applies no limits: it accepts
/// every text RFC 8259's grammar accepts, duplicate member names and lone surrogate escapes included,
/// so that anything valid can be edited string by string and stay valid. Time is linear in the input;
/// nesting costs one byte per level on the heap, never stack.
enum JSONStringTokens {
    /// One string token.
    struct Token: Equatable {
        /// The bytes between the quotes.
        var content: Range<Int>
        /// Whether the content has a backslash escape (otherwise it is the text's UTF-8 as it is).
        var hasEscapes: Bool
    }

    private enum Expecting {
        case value, valueOrClose, name, nameOrClose, commaOrClose
    }

    /// The string values (not member names) in document order; `nil` when `bytes` is not one JSON text
    /// (invalid UTF-8, a syntax error, nothing, or more than one value).
    static func values(in bytes: UnsafeBufferPointer<UInt8>) -> [Token]? {
        guard !bytes.isEmpty, String(validating: bytes, as: UTF8.self) != nil else { return nil }
        var tokens: [Token] = []
        var containers: [UInt8] = []  // the open `{` and `[`, innermost last
        var expecting = Expecting.value
        var index = 0
        while true {
            index = skipSpace(bytes, index)
            if expecting == .commaOrClose, containers.isEmpty {
                return index == bytes.count ? tokens : nil
            }
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            switch expecting {
            case .valueOrClose where byte == .closeBracket, .nameOrClose where byte == .closeBrace:
                containers.removeLast()
                index += 1
                expecting = .commaOrClose
            case .value, .valueOrClose:
                switch byte {
                case .openBrace, .openBracket:
                    containers.append(byte)
                    index += 1
                    expecting = byte == .openBrace ? .nameOrClose : .valueOrClose
                case .quote:
                    guard let token = string(at: index, in: bytes) else { return nil }
                    tokens.append(token)
                    index = token.content.upperBound + 1
                    expecting = .commaOrClose
                default:
                    guard let end = scalarEnd(at: index, in: bytes) else { return nil }
                    index = end
                    expecting = .commaOrClose
                }
            case .name, .nameOrClose:
                guard byte == .quote, let name = string(at: index, in: bytes) else { return nil }
                index = skipSpace(bytes, name.content.upperBound + 1)
                guard index < bytes.count, bytes[index] == .colon else { return nil }
                index += 1
                expecting = .value
            case .commaOrClose:
                let isObject = containers.last == .openBrace
                if byte == .comma {
                    index += 1
                    expecting = isObject ? .name : .value
                } else if byte == (isObject ? .closeBrace : .closeBracket) {
                    containers.removeLast()
                    index += 1
                } else {
                    return nil
                }
            }
        }
    }

    /// The string token whose opening quote is at `start`, or `nil` if it is not terminated or has a bad
    /// escape or an unescaped control character.
    private static func string(at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Token? {
        guard let base = bytes.baseAddress else { return nil }
        var index = start + 1
        var hasEscapes = false
        while true {
            index = StringScan.firstSpecial(in: base, from: index, to: bytes.count)
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case .quote:
                return Token(content: start + 1..<index, hasEscapes: hasEscapes)
            case .backslash:
                guard let length = JSONEscapes.escapeLength(at: index, in: bytes) else { return nil }
                hasEscapes = true
                index += length
            default:
                return nil  // a control character
            }
        }
    }

    /// The end of the `true`, `false`, `null` or number at `start`, or `nil`.
    private static func scalarEnd(at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        for literal in ["true", "false", "null"] where SensitiveText.has(Array(literal.utf8), at: start, in: bytes) {
            return start + literal.utf8.count
        }
        var index = start
        func digits() -> Int {
            let first = index
            while index < bytes.count, SensitiveText.isDigit(bytes[index]) { index += 1 }
            return index - first
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, SensitiveText.isDigit(bytes[index]) else { return nil }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { _ = digits() }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return nil }
        }
        return index
    }

    private static func skipSpace(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
        return index
    }
}
