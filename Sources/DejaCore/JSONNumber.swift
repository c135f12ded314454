/// An exact decimal number from a JSON document; never converted through `Double`.
///
/// Stored canonically as sign, significant digits (no leading or trailing zeros) and a power-of-ten
/// exponent, so two literals with the same value (`1`, `1.0`, `1e0`, `10E-1`, `0.1e1`) are equal and
/// spell the same. `-0` is `0`. ``description`` is the canonical spelling:
///
/// - zero is `0`;
/// - with `a` the power of ten of the leading digit (`1234` has `a = 3`, `0.05` has `a = -2`), a number
///   with `-7 <= a < 40` is written as a plain decimal (`100`, `1.5`, `0.0000001`, 40-digit integers);
/// - otherwise as `<d>[.<ddd>]e<+|-><a>`, e.g. `1e+400`, `-1.25e-8`.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// Whether the value is below zero (never true for zero).
    public let isNegative: Bool
    /// ASCII significant digits, first and last non-zero; empty for zero.
    @usableFromInline let digits: [UInt8]
    /// The value is `digits × 10^exponent`.
    public let exponent: Int

    /// Largest exponent magnitude accepted in a literal; larger ones are rejected as a limit.
    public static let maxLiteralExponent = 1_000_000_000

    /// Plain decimal spelling is used for leading-digit powers in this range; scientific outside.
    static let plainRange = -7..<40

    /// Zero.
    public static let zero = JSONNumber(isNegative: false, digits: [], exponent: 0)

    init(isNegative: Bool, digits: [UInt8], exponent: Int) {
        self.isNegative = isNegative && !digits.isEmpty
        self.digits = digits
        self.exponent = digits.isEmpty ? 0 : exponent
    }

    /// The exact value of an integer.
    public init(_ value: Int64) {
        var magnitude = value.magnitude
        var reversed: [UInt8] = []
        var exponent = 0
        while magnitude != 0, magnitude % 10 == 0 {
            magnitude /= 10
            exponent += 1
        }
        while magnitude != 0 {
            reversed.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        self.init(isNegative: value < 0, digits: reversed.reversed(), exponent: exponent)
    }

    /// The exact value of an integer.
    public init(_ value: Int) { self.init(Int64(value)) }

    /// Parses a JSON number literal such as `-12.50e3`; `nil` if it is not exactly one valid literal.
    public init?(_ literal: some StringProtocol) {
        var text = String(literal)
        let result = text.withUTF8 { Self.parse($0) }
        guard case .success(let number) = result else { return nil }
        self = number
    }

    /// Whether the value is zero.
    public var isZero: Bool { digits.isEmpty }

    /// The value as an `Int64` if it is an integer in range; `nil` otherwise.
    public var int64Value: Int64? {
        if digits.isEmpty { return 0 }
        guard exponent >= 0, digits.count + exponent <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for digit in digits {
            magnitude = magnitude * 10 + UInt64(digit - UInt8(ascii: "0"))
        }
        for _ in 0..<exponent {
            let (product, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            magnitude = product
        }
        if isNegative {
            return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    /// The nearest `Double` (infinite when out of range); for display and approximate use only.
    public var doubleValue: Double { Double(description) ?? .nan }

    /// The canonical spelling (see the type's documentation); always a valid JSON number.
    public var description: String {
        var bytes: [UInt8] = []
        write(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the canonical spelling to `out`.
    func write(into out: inout [UInt8]) {
        guard !digits.isEmpty else {
            out.append(UInt8(ascii: "0"))
            return
        }
        if isNegative { out.append(UInt8(ascii: "-")) }
        let zero = UInt8(ascii: "0")
        let leadingPower = exponent + digits.count - 1
        if Self.plainRange.contains(leadingPower) {
            if exponent >= 0 {
                out.append(contentsOf: digits)
                out.append(contentsOf: repeatElement(zero, count: exponent))
            } else if leadingPower >= 0 {
                out.append(contentsOf: digits[...leadingPower])
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[(leadingPower + 1)...])
            } else {
                out.append(zero)
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: repeatElement(zero, count: -leadingPower - 1))
                out.append(contentsOf: digits)
            }
        } else {
            out.append(digits[0])
            if digits.count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            out.append(UInt8(ascii: "e"))
            out.append(leadingPower < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            out.append(contentsOf: String(leadingPower.magnitude).utf8)
        }
    }

    enum ParseFailure: Error {
        case malformed
        case exponentTooLarge
    }

    /// Parses exactly one JSON number literal (RFC 8259 grammar) into canonical form.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<JSONNumber, ParseFailure> {
        let count = bytes.count
        var index = 0
        func isDigit(_ i: Int) -> Bool { i < count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) }

        var negative = false
        if index < count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard isDigit(index) else { return .failure(.malformed) }
        let integerStart = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while isDigit(index) { index += 1 }
        }
        let integerEnd = index
        var fractionStart = index
        var fractionEnd = index
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionStart = index
            while isDigit(index) { index += 1 }
            fractionEnd = index
            guard fractionEnd > fractionStart else { return .failure(.malformed) }
        }
        var literalExponent = 0
        var exponentTooLarge = false
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let exponentStart = index
            while isDigit(index) {
                if literalExponent > maxLiteralExponent {
                    exponentTooLarge = true
                } else {
                    literalExponent = literalExponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                }
                index += 1
            }
            guard index > exponentStart else { return .failure(.malformed) }
            if literalExponent > maxLiteralExponent { exponentTooLarge = true }
            if exponentNegative { literalExponent = -literalExponent }
        }
        guard index == count else { return .failure(.malformed) }
        if exponentTooLarge { return .failure(.exponentTooLarge) }

        var digits: [UInt8] = []
        digits.reserveCapacity(integerEnd - integerStart + fractionEnd - fractionStart)
        for position in Array(integerStart..<integerEnd) + Array(fractionStart..<fractionEnd)
        where !(digits.isEmpty && bytes[position] == UInt8(ascii: "0")) {
            digits.append(bytes[position])
        }
        var exponent = literalExponent - (fractionEnd - fractionStart)
        while digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            exponent += 1
        }
        return .success(JSONNumber(isNegative: negative, digits: digits, exponent: exponent))
    }
}
