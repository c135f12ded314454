/// A PDF object as the file spells it (ISO 32000-1 §7.3), with indirect references left unresolved.
///
/// Strings hold their bytes (a literal and a hex string with the same bytes are one value), names their
/// bytes after `#xx` escapes, numbers their normalised decimal text (``PDFNumber``), so that spellings a
/// PDF writer may choose freely never tell two objects apart.
indirect enum PDFObject: Equatable {
    case null
    case bool(Bool)
    case number(PDFNumber)
    case string([UInt8])
    case name(PDFName)
    case array([PDFObject])
    case dictionary(PDFDictionary)
    case reference(PDFReference)
    /// A stream: its dictionary and where its encoded data lies in the buffer it was read from.
    case stream(PDFDictionary, data: Range<Int>)

    var integer: Int? {
        if case .number(let number) = self { number.integer } else { nil }
    }

    var dictionary: PDFDictionary? {
        switch self {
        case .dictionary(let dictionary), .stream(let dictionary, _): dictionary
        default: nil
        }
    }

    var nameValue: PDFName? {
        if case .name(let name) = self { name } else { nil }
    }
}

/// An indirect reference `n g R`.
struct PDFReference: Hashable {
    var number: Int
    var generation: Int
}

/// A name's bytes, `#xx` escapes decoded; written `/Type` in Swift as the string literal `"Type"`.
struct PDFName: Hashable, Comparable, ExpressibleByStringLiteral, CustomStringConvertible {
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    init(stringLiteral value: String) { bytes = Array(value.utf8) }

    static func < (lhs: PDFName, rhs: PDFName) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    /// `/Name`, with bytes outside printable ASCII as `#xx`, for notes.
    var description: String {
        "/" + bytes.map { byte in
            (0x21...0x7E).contains(byte) && byte != UInt8(ascii: "#")
                ? String(UnicodeScalar(byte)) : "#" + String(byte, radix: 16, uppercase: true)
        }.joined()
    }
}

/// A number in normalised decimal text: no sign on zero, no leading zeros, no trailing fraction zeros,
/// no trailing point; `1`, `1.0`, `+1.` and `001` are one number. ``integer`` is set where the token was
/// an integer that fits in `Int` (object numbers, lengths, offsets).
struct PDFNumber: Equatable {
    var text: [UInt8]
    var integer: Int?

    /// Reads a numeric token (`[+-]?digits[.digits]`, either side of the point may be empty but not both);
    /// `nil` for anything else.
    init?(token: ArraySlice<UInt8>) {
        var digits = token[...]
        var negative = false
        if let first = digits.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        let point = digits.firstIndex(of: UInt8(ascii: "."))
        var whole = point.map { digits[..<$0] } ?? digits
        var fraction = point.map { digits[($0 + 1)...] } ?? []
        guard whole.count + fraction.count > 0,
              whole.allSatisfy(PDFSyntax.isDigit), fraction.allSatisfy(PDFSyntax.isDigit)
        else { return nil }
        while whole.first == UInt8(ascii: "0") { whole = whole.dropFirst() }
        while fraction.last == UInt8(ascii: "0") { fraction = fraction.dropLast() }
        var text: [UInt8] = whole.isEmpty ? [UInt8(ascii: "0")] : Array(whole)
        if !fraction.isEmpty { text += [UInt8(ascii: ".")] + fraction }
        let isZero = whole.isEmpty && fraction.isEmpty
        if negative && !isZero { text.insert(UInt8(ascii: "-"), at: 0) }
        self.text = text
        if point == nil, whole.count <= 18 {
            let magnitude = whole.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            integer = negative ? -magnitude : magnitude
        }
    }

    init(_ value: Int) {
        text = Array(String(value).utf8)
        integer = value
    }
}

/// A dictionary's entries in file order. A key given twice makes the file not sure (readers disagree on
/// which one wins), so the parser refuses it and lookups need not choose.
struct PDFDictionary: Equatable {
    var entries: [(key: PDFName, value: PDFObject)] = []

    subscript(key: PDFName) -> PDFObject? {
        entries.first { $0.key == key }?.value
    }

    static func == (lhs: PDFDictionary, rhs: PDFDictionary) -> Bool {
        lhs.entries.count == rhs.entries.count && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

/// Byte classes of PDF syntax (§7.2.2).
enum PDFSyntax {
    static func isWhiteSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 || byte == 0x0C || byte == 0x00
    }

    static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "/"), UInt8(ascii: "%"):
            true
        default: false
        }
    }

    static func isRegular(_ byte: UInt8) -> Bool { !isWhiteSpace(byte) && !isDelimiter(byte) }

    static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
