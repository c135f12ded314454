/// A strict RFC 8259 parser over a contiguous byte buffer.
///
/// Single pass, linear time. Long plain strings (e.g. base64) are scanned eight bytes at a time and turned
/// into a `String` with one validating copy; strings with escapes are built in a reusable scratch buffer.
/// The JSON path is tracked only for error messages.
struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private let limits: JSONLimits
    private var index = 0
    private var depth = 0
    private var fieldCount = 0
    private var path: [JSONPath.Component] = []
    private var scratch: [UInt8] = []

    /// Objects with more members than this switch duplicate detection from a scan to a hash set.
    private static let linearDuplicateScanLimit = 12

    init(bytes: UnsafeBufferPointer<UInt8>, limits: JSONLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    mutating func parseDocument() throws(CanonicalError) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else {
            throw CanonicalError(.emptyBody, path: "$", message: "the body is empty; send a JSON object")
        }
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else {
            throw fail(.invalidJSON, "unexpected data after the JSON value at byte \(index); send exactly one JSON value")
        }
        return value
    }

    // MARK: Values

    private mutating func parseValue() throws(CanonicalError) -> JSONValue {
        guard index < bytes.count else {
            throw fail(.invalidJSON, "the body ends where a value was expected; send complete JSON")
        }
        switch bytes[index] {
        case .quote: return .string(try parseString())
        case .openBrace: return try parseObject()
        case .openBracket: return try parseArray()
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw fail(.invalidJSON, "unexpected character at byte \(index) where a value was expected; check the JSON syntax")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(CanonicalError) {
        let count = literal.utf8CodeUnitCount
        let matches = index + count <= bytes.count
            && (0..<count).allSatisfy { bytes[index + $0] == literal.utf8Start[$0] }
        guard matches else {
            throw fail(.invalidJSON, "invalid literal at byte \(index); use true, false or null (lowercase)")
        }
        index += count
    }

    private mutating func parseObject() throws(CanonicalError) -> JSONValue {
        try enterContainer()
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        var seen: Set<ExactKey>?
        skipWhitespace()
        if index < bytes.count, bytes[index] == .closeBrace {
            index += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == .quote else {
                throw fail(.invalidJSON, "expected a member name in double quotes at byte \(index)")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == .colon else {
                throw fail(.invalidJSON, "expected ':' after the member name at byte \(index)")
            }
            index += 1
            skipWhitespace()
            path.append(.key(key))
            if Self.isDuplicate(key, in: members, seen: &seen) {
                throw fail(.duplicateKey, "this member appears more than once in the same object; send each member once")
            }
            guard members.count < limits.maxMembers else {
                throw fail(.limitExceeded, "an object has more than \(limits.maxMembers) members; send fewer")
            }
            try countField()
            let value = try parseValue()
            path.removeLast()
            members.append((key: key, value: value))
            skipWhitespace()
            guard index < bytes.count else {
                throw fail(.invalidJSON, "the body ends inside an object; close it with '}'")
            }
            switch bytes[index] {
            case .comma:
                index += 1
            case .closeBrace:
                index += 1
                depth -= 1
                return .object(members)
            default:
                throw fail(.invalidJSON, "expected ',' or '}' at byte \(index)")
            }
        }
    }

    private static func isDuplicate(
        _ key: String,
        in members: [(key: String, value: JSONValue)],
        seen: inout Set<ExactKey>?
    ) -> Bool {
        if seen != nil {
            return !seen!.insert(ExactKey(key)).inserted
        }
        if members.contains(where: { $0.key.utf8.elementsEqual(key.utf8) }) {
            return true
        }
        if members.count >= linearDuplicateScanLimit {
            var set = Set(members.map { ExactKey($0.key) })
            set.insert(ExactKey(key))
            seen = set
        }
        return false
    }

    private mutating func parseArray() throws(CanonicalError) -> JSONValue {
        try enterContainer()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == .closeBracket {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            path.append(.index(elements.count))
            guard elements.count < limits.maxMembers else {
                throw fail(.limitExceeded, "an array has more than \(limits.maxMembers) elements; send fewer")
            }
            try countField()
            elements.append(try parseValue())
            path.removeLast()
            skipWhitespace()
            guard index < bytes.count else {
                throw fail(.invalidJSON, "the body ends inside an array; close it with ']'")
            }
            switch bytes[index] {
            case .comma:
                index += 1
            case .closeBracket:
                index += 1
                depth -= 1
                return .array(elements)
            default:
                throw fail(.invalidJSON, "expected ',' or ']' at byte \(index)")
            }
        }
    }

    private mutating func enterContainer() throws(CanonicalError) {
        depth += 1
        guard depth <= limits.maxDepth else {
            throw fail(.limitExceeded, "arrays and objects are nested deeper than \(limits.maxDepth) levels; flatten the document")
        }
    }

    private mutating func countField() throws(CanonicalError) {
        fieldCount += 1
        guard fieldCount <= limits.maxTotalFields else {
            throw fail(.limitExceeded, "the document has more than \(limits.maxTotalFields) values; send fewer")
        }
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(CanonicalError) -> JSONNumber {
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) {
            index += 1
        }
        guard index - start <= limits.maxNumberLength else {
            throw fail(.limitExceeded, "a number literal at byte \(start) is longer than \(limits.maxNumberLength) characters", at: start)
        }
        switch JSONNumber.parse(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
        case .success(let number):
            return number
        case .failure(.malformed):
            throw fail(.invalidJSON, "malformed number at byte \(start); use JSON number syntax such as -12.5e3", at: start)
        case .failure(.exponentTooLarge):
            throw fail(.limitExceeded, "the exponent of the number at byte \(start) is too large", at: start)
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            true
        default: false
        }
    }

    // MARK: Strings

    private mutating func parseString() throws(CanonicalError) -> String {
        index += 1
        let start = index
        skipPlainStringBytes()
        guard index < bytes.count else {
            throw fail(.invalidJSON, "a string starting at byte \(start - 1) is not terminated; close it with '\"'", at: start - 1)
        }
        if bytes[index] == .quote {
            let run = UnsafeBufferPointer(rebasing: bytes[start..<index])
            try checkStringLength(run.count, start: start)
            index += 1
            return try makeString(run, start: start)
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while true {
            guard index < bytes.count else {
                throw fail(.invalidJSON, "a string starting at byte \(start - 1) is not terminated; close it with '\"'", at: start - 1)
            }
            let byte = bytes[index]
            if byte == .quote {
                index += 1
                break
            }
            if byte < 0x20 {
                throw fail(.invalidJSON, "a control character at byte \(index) is not escaped; write it as \\u00XX", at: index)
            }
            try decodeEscape()
            let runStart = index
            skipPlainStringBytes()
            scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            try checkStringLength(scratch.count, start: start)
        }
        let decoded = scratch.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) }
        guard let decoded else {
            throw fail(.invalidUTF8, "a string starting at byte \(start - 1) is not valid UTF-8; encode text as UTF-8", at: start - 1)
        }
        return decoded
    }

    private func makeString(_ run: UnsafeBufferPointer<UInt8>, start: Int) throws(CanonicalError) -> String {
        guard let string = String(validating: run, as: UTF8.self) else {
            throw fail(.invalidUTF8, "a string starting at byte \(start - 1) is not valid UTF-8; encode text as UTF-8", at: start - 1)
        }
        return string
    }

    private func checkStringLength(_ length: Int, start: Int) throws(CanonicalError) {
        guard length <= limits.maxStringBytes else {
            throw fail(.limitExceeded, "a string starting at byte \(start - 1) is longer than \(limits.maxStringBytes) bytes", at: start - 1)
        }
    }

    /// Advances `index` past bytes that need no attention inside a string: not `"`, `\` or a control.
    private mutating func skipPlainStringBytes() {
        guard let base = bytes.baseAddress else { return }
        index = StringScan.firstSpecial(in: base, from: index, to: bytes.count)
    }

    /// Decodes the escape at `index` (which is a backslash) into `scratch`.
    private mutating func decodeEscape() throws(CanonicalError) {
        let escapeStart = index
        guard index + 1 < bytes.count else {
            throw fail(.invalidJSON, "the body ends inside an escape at byte \(escapeStart)", at: escapeStart)
        }
        let letter = bytes[index + 1]
        index += 2
        switch letter {
        case .quote, .backslash, UInt8(ascii: "/"): scratch.append(letter)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try readHex4(escapeStart: escapeStart)
            let scalar: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                guard index + 1 < bytes.count, bytes[index] == .backslash, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail(.invalidEscape, "the \\u escape at byte \(escapeStart) is a lone high surrogate; follow it with a low surrogate escape or send the character as UTF-8", at: escapeStart)
                }
                index += 2
                let low = try readHex4(escapeStart: escapeStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw fail(.invalidEscape, "the \\u escape at byte \(escapeStart) is a high surrogate not followed by a low surrogate; send the character as UTF-8", at: escapeStart)
                }
                scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw fail(.invalidEscape, "the \\u escape at byte \(escapeStart) is a lone low surrogate; send the character as UTF-8", at: escapeStart)
            default:
                scalar = unit
            }
            appendUTF8(scalar)
        default:
            throw fail(.invalidEscape, "unknown escape at byte \(escapeStart); JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX", at: escapeStart)
        }
    }

    private mutating func readHex4(escapeStart: Int) throws(CanonicalError) -> UInt32 {
        guard index + 4 <= bytes.count else {
            throw fail(.invalidEscape, "the \\u escape at byte \(escapeStart) needs four hexadecimal digits", at: escapeStart)
        }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default:
                throw fail(.invalidEscape, "the \\u escape at byte \(escapeStart) needs four hexadecimal digits", at: escapeStart)
            }
            value = value << 4 | UInt32(digit)
        }
        index += 4
        return value
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    // MARK: Helpers

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ code: CanonicalError.Code, _ message: String, at offset: Int? = nil) -> CanonicalError {
        CanonicalError(code, path: JSONPath.render(path), message: message, offset: offset ?? index)
    }
}

extension UInt8 {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
}
