/// Reads PDF objects from bytes (ISO 32000-1 §7.2–7.3): white space and comments, numbers, strings,
/// names, arrays, dictionaries and `n g R` references. Streams are left to ``PDFFile``, which knows how to
/// resolve an indirect `/Length`.
///
/// Bounded: nesting deeper than ``PDFLimits/maxDepth`` is ``PDFFile/NotSure``; every other read moves
/// forward over the buffer, so the time is linear in the bytes read.
struct PDFParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int
    let maxDepth: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int, maxDepth: Int = PDFLimits().maxDepth) {
        self.bytes = bytes
        self.position = position
        self.maxDepth = maxDepth
    }

    var atEnd: Bool { position >= bytes.count }

    /// Skips white space and comments.
    mutating func skipWhiteSpace() {
        while position < bytes.count {
            let byte = bytes[position]
            if PDFSyntax.isWhiteSpace(byte) {
                position += 1
            } else if byte == UInt8(ascii: "%") {
                while position < bytes.count, bytes[position] != 0x0A, bytes[position] != 0x0D { position += 1 }
            } else {
                return
            }
        }
    }

    /// The next run of regular characters (a keyword or a number), after white space; empty at a delimiter.
    mutating func token() -> Slice<UnsafeBufferPointer<UInt8>> {
        skipWhiteSpace()
        let start = position
        while position < bytes.count, PDFSyntax.isRegular(bytes[position]) { position += 1 }
        return bytes[start..<position]
    }

    /// Reads `keyword` or throws naming it.
    mutating func expect(_ keyword: String) throws(PDFFile.NotSure) {
        let start = position
        guard token().elementsEqual(keyword.utf8) else {
            throw PDFFile.NotSure("expected '\(keyword)' at byte \(start)")
        }
    }

    /// A non-negative integer token, or `nil` (and the position unchanged).
    mutating func integer() -> Int? {
        let start = position
        let word = token()
        if !word.isEmpty, word.count <= 18, word.allSatisfy(PDFSyntax.isDigit) {
            return word.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        position = start
        return nil
    }

    /// The next object; `R` references are recognised after two integers.
    mutating func object(depth: Int = 0) throws(PDFFile.NotSure) -> PDFObject {
        guard depth <= maxDepth else { throw PDFFile.NotSure("objects nested deeper than \(maxDepth) levels") }
        skipWhiteSpace()
        guard position < bytes.count else { throw PDFFile.NotSure("the file ends inside an object") }
        let start = position
        switch bytes[position] {
        case UInt8(ascii: "/"):
            position += 1
            return .name(try name())
        case UInt8(ascii: "("):
            position += 1
            return .string(try literalString())
        case UInt8(ascii: "<"):
            if position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "<") {
                position += 2
                return .dictionary(try dictionary(depth: depth))
            }
            position += 1
            return .string(try hexString())
        case UInt8(ascii: "["):
            position += 1
            var elements: [PDFObject] = []
            while true {
                skipWhiteSpace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                    position += 1
                    return .array(elements)
                }
                elements.append(try object(depth: depth + 1))
            }
        default:
            let word = token()
            if word.elementsEqual("true".utf8) { return .bool(true) }
            if word.elementsEqual("false".utf8) { return .bool(false) }
            if word.elementsEqual("null".utf8) { return .null }
            guard let number = PDFNumber(token: ArraySlice(word)) else {
                throw PDFFile.NotSure(word.isEmpty ? "an unexpected delimiter at byte \(start)" : "an unexpected keyword at byte \(start)")
            }
            if let objectNumber = number.integer, objectNumber >= 0, word.allSatisfy(PDFSyntax.isDigit) {
                let after = position
                if let generation = integer(), token().elementsEqual("R".utf8) {
                    return .reference(PDFReference(number: objectNumber, generation: generation))
                }
                position = after
            }
            return .number(number)
        }
    }

    private mutating func dictionary(depth: Int) throws(PDFFile.NotSure) -> PDFDictionary {
        var dictionary = PDFDictionary()
        while true {
            skipWhiteSpace()
            guard position < bytes.count else { throw PDFFile.NotSure("the file ends inside a dictionary") }
            if bytes[position] == UInt8(ascii: ">") {
                guard position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: ">") else {
                    throw PDFFile.NotSure("a '>' that does not close a dictionary at byte \(position)")
                }
                position += 2
                return dictionary
            }
            guard bytes[position] == UInt8(ascii: "/") else {
                throw PDFFile.NotSure("a dictionary key that is not a name at byte \(position)")
            }
            position += 1
            let key = try name()
            let value = try object(depth: depth + 1)
            guard dictionary[key] == nil else { throw PDFFile.NotSure("the key \(key) given twice in one dictionary") }
            // A null value is the same as no entry (§7.3.7).
            if value != .null { dictionary.entries.append((key, value)) }
        }
    }

    private mutating func name() throws(PDFFile.NotSure) -> PDFName {
        var out: [UInt8] = []
        while position < bytes.count, PDFSyntax.isRegular(bytes[position]) {
            let byte = bytes[position]
            if byte == UInt8(ascii: "#") {
                guard position + 2 < bytes.count, let high = PDFSyntax.hexValue(bytes[position + 1]),
                      let low = PDFSyntax.hexValue(bytes[position + 2])
                else { throw PDFFile.NotSure("a '#' in a name not followed by two hex digits at byte \(position)") }
                out.append(high << 4 | low)
                position += 3
            } else {
                out.append(byte)
                position += 1
            }
        }
        return PDFName(bytes: out)
    }

    private mutating func literalString() throws(PDFFile.NotSure) -> [UInt8] {
        var out: [UInt8] = []
        var open = 1
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "("):
                open += 1
                out.append(byte)
            case UInt8(ascii: ")"):
                open -= 1
                if open == 0 { return out }
                out.append(byte)
            case 0x0D:
                // Every end of line in a literal string reads as one LF (§7.3.4.2).
                if position < bytes.count, bytes[position] == 0x0A { position += 1 }
                out.append(0x0A)
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { break }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case 0x0D:
                    if position < bytes.count, bytes[position] == 0x0A { position += 1 }
                case 0x0A:
                    break
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var value = Int(escaped - UInt8(ascii: "0"))
                    var digits = 1
                    while digits < 3, position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[position]) {
                        value = value * 8 + Int(bytes[position] - UInt8(ascii: "0"))
                        position += 1
                        digits += 1
                    }
                    out.append(UInt8(truncatingIfNeeded: value))
                default:
                    // `\(`, `\)`, `\\` and an unknown escape: the character itself.
                    out.append(escaped)
                }
            default:
                out.append(byte)
            }
        }
        throw PDFFile.NotSure("the file ends inside a string")
    }

    private mutating func hexString() throws(PDFFile.NotSure) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: ">") {
                if let high { out.append(high << 4) }
                return out
            }
            if PDFSyntax.isWhiteSpace(byte) { continue }
            guard let value = PDFSyntax.hexValue(byte) else {
                throw PDFFile.NotSure("a non-hex character in a hex string at byte \(position - 1)")
            }
            if let pending = high {
                out.append(pending << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        throw PDFFile.NotSure("the file ends inside a hex string")
    }
}
