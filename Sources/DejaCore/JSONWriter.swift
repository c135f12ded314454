/// Writes JSON values as compact bytes: no white space, minimal escapes, canonical number spellings.
///
/// Strings escape only `"`, `\` and control characters; controls use `\b \f \n \r \t` where JSON has a
/// short form and `\u00xx` (lowercase hex) otherwise. Everything else is written as raw UTF-8.
enum JSONWriter {
    static func write(_ value: JSONValue, into out: inout [UInt8], sortKeys: Bool) {
        switch value {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let flag):
            out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number):
            number.write(into: &out)
        case .string(let string):
            writeString(string, into: &out)
        case .array(let elements):
            out.append(.openBracket)
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(.comma) }
                write(element, into: &out, sortKeys: sortKeys)
            }
            out.append(.closeBracket)
        case .object(let members):
            out.append(.openBrace)
            let ordered = sortKeys ? members.sorted { ExactKey.precedes($0.key, $1.key) } : members
            for (position, member) in ordered.enumerated() {
                if position > 0 { out.append(.comma) }
                writeString(member.key, into: &out)
                out.append(.colon)
                write(member.value, into: &out, sortKeys: sortKeys)
            }
            out.append(.closeBrace)
        }
    }

    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(.quote)
        var string = string
        string.withUTF8 { utf8 in
            guard let base = utf8.baseAddress else { return }
            var position = 0
            while true {
                let special = StringScan.firstSpecial(in: base, from: position, to: utf8.count)
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[position..<special]))
                guard special < utf8.count else { return }
                appendEscape(for: utf8[special], into: &out)
                position = special + 1
            }
        }
        out.append(.quote)
    }

    private static func appendEscape(for byte: UInt8, into out: inout [UInt8]) {
        out.append(.backslash)
        switch byte {
        case .quote, .backslash: out.append(byte)
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        default:
            let hex = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
    }

    /// An upper-bound-ish size guess so that output buffers are allocated once for large documents.
    static func estimatedSize(of value: JSONValue) -> Int {
        switch value {
        case .null, .bool: 5
        case .number(let number): number.digits.count + 24
        case .string(let string): string.utf8.count + 2
        case .array(let elements): elements.reduce(2) { $0 + estimatedSize(of: $1) + 1 }
        case .object(let members): members.reduce(2) { $0 + $1.key.utf8.count + 4 + estimatedSize(of: $1.value) }
        }
    }
}
