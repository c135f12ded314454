/// Lenient base64 decoding and strict standard encoding for binary request fields.
///
/// Decoding accepts the standard and URL-safe alphabets (even mixed), padding or none, and CR, LF, tab and
/// space anywhere (MIME line wrapping). It runs in one pass and allocates only the output.
enum Base64 {
    /// What decoding found besides the bytes, for canonicalisation notes.
    struct Findings: Equatable {
        var lineBreaks = false
        var otherWhitespace = false
        var urlSafeAlphabet = false
        var missingPadding = false
        var nonZeroTrailingBits = false

        /// Whether re-encoding the bytes as standard padded base64 gives back the input exactly.
        var isCanonical: Bool { self == Findings() }
    }

    enum Failure: Error, Equatable {
        case invalidCharacter(offset: Int)
        case dataAfterPadding(offset: Int)
        case tooMuchPadding(offset: Int)
        case truncatedGroup
        case paddingWithoutData

        var explanation: String {
            switch self {
            case .invalidCharacter(let offset): "a character outside the base64 alphabet at offset \(offset)"
            case .dataAfterPadding(let offset): "data after the '=' padding at offset \(offset)"
            case .tooMuchPadding(let offset): "more than two '=' at offset \(offset)"
            case .truncatedGroup: "the data ends in a single character, which is not a whole byte"
            case .paddingWithoutData: "'=' padding where no data needs it"
            }
        }
    }

    // Table entries: 0...63 for standard symbols, 64 + value for URL-safe ones (bit 6 marks base64url),
    // and sentinels with bit 7 set for everything else.
    private static let urlSafeBit: UInt8 = 0x40
    private static let whitespace: UInt8 = 0xFE
    private static let padding: UInt8 = 0xFD
    private static let invalid: UInt8 = 0xFF

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(value) }
        table[Int(UInt8(ascii: "-"))] = 62 | urlSafeBit
        table[Int(UInt8(ascii: "_"))] = 63 | urlSafeBit
        for symbol in [0x20, 0x09, 0x0A, 0x0D] { table[symbol] = whitespace }
        table[Int(UInt8(ascii: "="))] = padding
        return table
    }()

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func decode(_ input: UnsafeBufferPointer<UInt8>) -> Result<(bytes: [UInt8], findings: Findings), Failure> {
        var findings = Findings()
        var failure: Failure?
        var accumulator: UInt32 = 0
        var pending = 0
        var pads = 0
        var seenBits: UInt8 = 0
        let capacity = input.count / 4 * 3 + 3
        var output = [UInt8](unsafeUninitializedCapacity: capacity) { out, initialized in
            var written = 0
            decodeTable.withUnsafeBufferPointer { table in
                let count = input.count
                var offset = 0
                while offset < count {
                    // Fast path: four plain symbols at a group boundary.
                    if pending == 0, offset + 4 <= count {
                        let a = table[Int(input[offset])], b = table[Int(input[offset + 1])]
                        let c = table[Int(input[offset + 2])], d = table[Int(input[offset + 3])]
                        if (a | b | c | d) & 0x80 == 0 {
                            if pads > 0 {
                                failure = .dataAfterPadding(offset: offset)
                                return
                            }
                            seenBits |= a | b | c | d
                            let group = UInt32(a & 0x3F) << 18 | UInt32(b & 0x3F) << 12 | UInt32(c & 0x3F) << 6 | UInt32(d & 0x3F)
                            out[written] = UInt8(truncatingIfNeeded: group >> 16)
                            out[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                            out[written + 2] = UInt8(truncatingIfNeeded: group)
                            written += 3
                            offset += 4
                            continue
                        }
                    }
                    let symbol = input[offset]
                    let value = table[Int(symbol)]
                    if value & 0x80 == 0 {
                        if pads > 0 {
                            failure = .dataAfterPadding(offset: offset)
                            return
                        }
                        seenBits |= value
                        accumulator = accumulator << 6 | UInt32(value & 0x3F)
                        pending += 1
                        if pending == 4 {
                            out[written] = UInt8(truncatingIfNeeded: accumulator >> 16)
                            out[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 8)
                            out[written + 2] = UInt8(truncatingIfNeeded: accumulator)
                            written += 3
                            accumulator = 0
                            pending = 0
                        }
                    } else if value == whitespace {
                        if symbol == 0x0A || symbol == 0x0D {
                            findings.lineBreaks = true
                        } else {
                            findings.otherWhitespace = true
                        }
                    } else if value == padding {
                        pads += 1
                        if pads > 2 {
                            failure = .tooMuchPadding(offset: offset)
                            return
                        }
                    } else {
                        failure = .invalidCharacter(offset: offset)
                        return
                    }
                    offset += 1
                }
            }
            if failure == nil {
                switch pending {
                case 2:
                    out[written] = UInt8(truncatingIfNeeded: accumulator >> 4)
                    written += 1
                case 3:
                    out[written] = UInt8(truncatingIfNeeded: accumulator >> 10)
                    out[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 2)
                    written += 2
                default:
                    break
                }
            }
            initialized = written
        }
        if let failure { return .failure(failure) }
        findings.urlSafeAlphabet = seenBits & urlSafeBit != 0
        switch pending {
        case 0:
            if pads > 0 { return .failure(.paddingWithoutData) }
        case 1:
            return .failure(.truncatedGroup)
        case 2:
            guard pads == 0 || pads == 2 else { return .failure(.paddingWithoutData) }
            findings.nonZeroTrailingBits = accumulator & 0x0F != 0
            findings.missingPadding = pads == 0
        default:
            guard pads == 0 || pads == 1 else { return .failure(.paddingWithoutData) }
            findings.nonZeroTrailingBits = accumulator & 0x03 != 0
            findings.missingPadding = pads == 0
        }
        if output.capacity > output.count * 2 + 64 { output = Array(output) }
        return .success((output, findings))
    }

    /// Standard base64 (RFC 4648 §4) with padding and no line breaks.
    static func encode(_ bytes: [UInt8]) -> String {
        let count = (bytes.count + 2) / 3 * 4
        guard count > 0 else { return "" }
        return String(unsafeUninitializedCapacity: count) { out in
            alphabet.withUnsafeBufferPointer { symbols in
                bytes.withUnsafeBufferPointer { input in
                    var read = 0
                    var written = 0
                    while read + 3 <= input.count {
                        let group = UInt32(input[read]) << 16 | UInt32(input[read + 1]) << 8 | UInt32(input[read + 2])
                        out[written] = symbols[Int(group >> 18)]
                        out[written + 1] = symbols[Int(group >> 12 & 0x3F)]
                        out[written + 2] = symbols[Int(group >> 6 & 0x3F)]
                        out[written + 3] = symbols[Int(group & 0x3F)]
                        read += 3
                        written += 4
                    }
                    let rest = input.count - read
                    if rest > 0 {
                        let group = UInt32(input[read]) << 16 | (rest == 2 ? UInt32(input[read + 1]) << 8 : 0)
                        out[written] = symbols[Int(group >> 18)]
                        out[written + 1] = symbols[Int(group >> 12 & 0x3F)]
                        out[written + 2] = rest == 2 ? symbols[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
                        out[written + 3] = UInt8(ascii: "=")
                    }
                }
            }
            return count
        }
    }
}
