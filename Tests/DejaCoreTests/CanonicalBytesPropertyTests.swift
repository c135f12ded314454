import Testing

@testable import DejaCore

/// Random documents written in many equivalent ways must canonicalise alike; any one changed leaf must not.
@Suite struct CanonicalBytesPropertyTests {
    @Test(arguments: 0..<8)
    func equivalentSpellingsShareCanonicalBytes(seedBlock: Int) throws {
        for offset in 0..<40 {
            let seed = UInt64(seedBlock * 1_000 + offset)
            var generator = SeededGenerator(seed: seed)
            let document = randomObject(depth: 0, using: &generator)
            let expected = document.canonicalBytes()
            for _ in 0..<3 {
                let text = VariedWriter.write(document, using: &generator)
                let reparsed = try JSONValue(parsing: text)
                #expect(reparsed.canonicalBytes() == expected, "seed \(seed): \(String(decoding: text, as: UTF8.self))")
            }
        }
    }

    @Test(arguments: 0..<8)
    func changingOneLeafChangesCanonicalBytes(seedBlock: Int) throws {
        for offset in 0..<40 {
            let seed = UInt64(seedBlock * 1_000 + offset)
            var generator = SeededGenerator(seed: seed)
            let document = randomObject(depth: 0, using: &generator)
            let leaves = leafCount(document)
            guard leaves > 0 else { continue }
            let target = Int(generator.next() % UInt64(leaves))
            var counter = 0
            let changed = mutateLeaf(document, target: target, counter: &counter)
            let text = VariedWriter.write(changed, using: &generator)
            let reparsed = try JSONValue(parsing: text)
            #expect(reparsed.canonicalBytes() != document.canonicalBytes(), "seed \(seed)")
        }
    }

    // MARK: Generation

    private func randomObject(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        let count = Int(generator.next() % 6)
        var keys: [String] = []
        while keys.count < count {
            let key = randomString(using: &generator, maxLength: 6)
            if !keys.contains(where: { $0.utf8.elementsEqual(key.utf8) }) { keys.append(key) }
        }
        return .object(keys.map { (key: $0, value: randomValue(depth: depth + 1, using: &generator)) })
    }

    private func randomValue(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        let kinds: UInt64 = depth >= 4 ? 5 : 7
        switch generator.next() % kinds {
        case 0: return .null
        case 1: return .bool(generator.next() % 2 == 0)
        case 2, 3: return .number(randomNumber(using: &generator))
        case 4: return .string(randomString(using: &generator, maxLength: 12))
        case 5: return .array((0..<Int(generator.next() % 5)).map { _ in randomValue(depth: depth + 1, using: &generator) })
        default: return randomObject(depth: depth, using: &generator)
        }
    }

    private func randomNumber(using generator: inout SeededGenerator) -> JSONNumber {
        if generator.next() % 8 == 0 { return .zero }
        let digitCount = Int(generator.next() % 25) + 1
        var digits = (0..<digitCount).map { _ in String(generator.next() % 10) }.joined()
        digits = "1" + digits + "7"
        let exponent = Int(generator.next() % 120) - 60
        let sign = generator.next() % 2 == 0 ? "" : "-"
        return JSONNumber("\(sign)\(digits)e\(exponent)")!
    }

    private func randomString(using generator: inout SeededGenerator, maxLength: Int) -> String {
        let pieces = ["a", "b", "Z", "q", "0", "/", "\"", "\\", "\n", "\t", "\u{1}", "\u{1f}", " ", "\u{e9}", "e\u{301}",
                      "\u{4E2D}", "\u{1F600}", "\u{7f}", "\u{2028}"]
        let length = Int(generator.next() % UInt64(maxLength + 1))
        return (0..<length).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
    }

    private func leafCount(_ value: JSONValue) -> Int {
        switch value {
        case .array(let elements): elements.reduce(0) { $0 + leafCount($1) }
        case .object(let members): members.reduce(0) { $0 + leafCount($1.value) }
        default: 1
        }
    }

    private func mutateLeaf(_ value: JSONValue, target: Int, counter: inout Int) -> JSONValue {
        switch value {
        case .array(let elements):
            return .array(elements.map { mutateLeaf($0, target: target, counter: &counter) })
        case .object(let members):
            return .object(members.map { (key: $0.key, value: mutateLeaf($0.value, target: target, counter: &counter)) })
        default:
            defer { counter += 1 }
            guard counter == target else { return value }
            switch value {
            case .null: return .bool(false)
            case .bool(let flag): return .bool(!flag)
            case .number(let number): return .number(number.int64Value.map { JSONNumber($0 + 1) } ?? JSONNumber(7))
            case .string(let string): return .string(string + "x")
            default: return value
            }
        }
    }
}

/// Writes JSON with shuffled members, random white space, random escapes and random number spellings.
enum VariedWriter {
    static func write(_ value: JSONValue, using generator: inout SeededGenerator) -> [UInt8] {
        var out: [UInt8] = []
        write(value, into: &out, using: &generator)
        return out
    }

    private static func space(_ out: inout [UInt8], using generator: inout SeededGenerator) {
        let choices: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        for _ in 0..<Int(generator.next() % 3) { out.append(choices[Int(generator.next() % 4)]) }
    }

    private static func write(_ value: JSONValue, into out: inout [UInt8], using generator: inout SeededGenerator) {
        space(&out, using: &generator)
        switch value {
        case .null: out += utf8("null")
        case .bool(let flag): out += utf8(flag ? "true" : "false")
        case .number(let number): out += utf8(spell(number, using: &generator))
        case .string(let string): writeString(string, into: &out, using: &generator)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out, using: &generator)
            }
            space(&out, using: &generator)
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (position, member) in members.shuffled(using: &generator).enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                space(&out, using: &generator)
                writeString(member.key, into: &out, using: &generator)
                space(&out, using: &generator)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out, using: &generator)
            }
            space(&out, using: &generator)
            out.append(UInt8(ascii: "}"))
        }
        space(&out, using: &generator)
    }

    private static func hex4(_ unit: UInt16, using generator: inout SeededGenerator) -> String {
        let digits = String(unit, radix: 16)
        let padded = String(repeating: "0", count: 4 - digits.count) + digits
        return "\\u" + (generator.next() % 2 == 0 ? padded : padded.uppercased())
    }

    private static func writeString(_ string: String, into out: inout [UInt8], using generator: inout SeededGenerator) {
        out.append(UInt8(ascii: "\""))
        for scalar in string.unicodeScalars {
            let roll = generator.next() % 3
            switch scalar {
            case "\"": out += utf8(roll == 0 ? "\\u0022" : "\\\"")
            case "\\": out += utf8(roll == 0 ? "\\u005c" : "\\\\")
            case "/": out += utf8(roll == 0 ? "\\/" : "/")
            case "\n": out += utf8(roll == 0 ? "\\u000A" : "\\n")
            case "\t": out += utf8(roll == 0 ? "\\u0009" : "\\t")
            case _ where scalar.value < 0x20: out += utf8(hex4(UInt16(scalar.value), using: &generator))
            case _ where roll == 0 && scalar.value >= 0x10000:
                for unit in String(scalar).utf16 { out += utf8(hex4(unit, using: &generator)) }
            case _ where roll == 0 || (roll == 1 && scalar.isASCII && scalar.properties.isAlphabetic):
                out += utf8(hex4(UInt16(scalar.value), using: &generator))
            default: out += utf8(String(scalar))
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A random literal with the same value as `number`.
    static func spell(_ number: JSONNumber, using generator: inout SeededGenerator) -> String {
        if number.isZero {
            return ["0", "-0", "0.0", "0e5", "-0.000E-3", "0E+0"][Int(generator.next() % 6)]
        }
        let sign = number.isNegative ? "-" : ""
        let digits = String(decoding: number.digits, as: UTF8.self) + String(repeating: "0", count: Int(generator.next() % 3))
        let exponent = number.exponent - (digits.count - number.digits.count)
        let split = Int(generator.next() % UInt64(digits.count + 1))
        let integerPart = split == 0 ? "0" : String(digits.prefix(split))
        let fractionPart = String(digits.dropFirst(split))
        let literalExponent = exponent + fractionPart.count
        var text = sign + integerPart + (fractionPart.isEmpty ? "" : "." + fractionPart)
        if literalExponent != 0 || generator.next() % 2 == 0 {
            let marker = generator.next() % 2 == 0 ? "e" : "E"
            let plus = literalExponent >= 0 && generator.next() % 2 == 0 ? "+" : ""
            text += marker + plus + String(literalExponent)
        }
        return text
    }
}
