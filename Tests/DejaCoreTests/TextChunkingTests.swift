import Foundation
import Testing

@testable import DejaCore

/// The normaliser and case folder now work piece by piece; these tests hold them to the exact output of the
/// whole-string Foundation calls they replace (so no key changes) and show that the pieces stay bounded.
@Suite struct TextChunkingTests {
    /// The text pipeline as it was before it was cut into pieces: Foundation on the whole string.
    private static func wholeString(_ rule: TextRule, _ string: String) -> String {
        func form(_ text: String) -> String {
            if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
            switch rule.form {
            case .nfc: return text.precomposedStringWithCanonicalMapping
            case .nfkc: return text.precomposedStringWithCompatibilityMapping
            case .none: return text
            }
        }
        var text = form(string)
        if rule.foldsCase {
            if text.utf8.allSatisfy({ $0 < 0x80 }) {
                text = text.lowercased()
            } else {
                text = form(text.folding(options: [.caseInsensitive], locale: nil))
            }
        }
        if rule.collapsesWhitespace || rule.trimsWhitespace {
            // The white-space step was not changed; it runs after the pieces are joined.
            text = TextRule(form: .none, trim: rule.trimsWhitespace, collapseWhitespace: rule.collapsesWhitespace).apply(to: text)
        }
        return text
    }

    /// Scalars chosen to meet every special case of normalisation and folding.
    private static let pools: [[Unicode.Scalar]] = {
        func scalars(_ ranges: ClosedRange<UInt32>...) -> [Unicode.Scalar] {
            ranges.flatMap { $0.compactMap(Unicode.Scalar.init) }
        }
        return [
            scalars(0x20...0x7E, 0x41...0x5A, 0x20...0x20, 0x0A...0x0A),  // ASCII, capitals twice
            scalars(0x300...0x36F, 0x591...0x5C7, 0x64B...0x65F, 0x93C...0x93C, 0x94D...0x94D, 0xF71...0xF84, 0x1DC0...0x1DFF, 0x20D0...0x20F0, 0x302A...0x302F, 0x3099...0x309A),  // marks
            scalars(0x1100...0x1112, 0x1161...0x1175, 0x11A7...0x11C3, 0xAC00...0xAC40, 0xD7A0...0xD7A3, 0x3131...0x318E, 0xFFA0...0xFFDC, 0xA960...0xA97C, 0xD7B0...0xD7FB),  // Hangul
            scalars(0x958...0x95F, 0x9DC...0x9DF, 0xA33...0xA36, 0xA59...0xA5E, 0xB5C...0xB5D, 0xF43...0xF43, 0xF73...0xF81, 0xFB1D...0xFB1F, 0xFB2A...0xFB4E, 0x2ADC...0x2ADC, 0x1D15E...0x1D164, 0x2126...0x212B, 0x340...0x344, 0x1E9B...0x1E9B, 0x323...0x323),  // exclusions, singletons
            scalars(0xFDFA...0xFDFB, 0xFB00...0xFB06, 0xFF01...0xFF5E, 0xFF61...0xFF9F, 0x2460...0x24FF, 0x3300...0x3357, 0xA0...0xFF, 0x2000...0x200D, 0x1F100...0x1F10A, 0x1D400...0x1D420, 0x309B...0x309C),  // compatibility
            scalars(0x390...0x3B0, 0x3C2...0x3C2, 0x1F00...0x1FFE, 0x345...0x345),  // Greek with accents
            scalars(0xDF...0xDF, 0x130...0x131, 0x149...0x149, 0x17F...0x17F, 0x1C4...0x1CC, 0x1F0...0x1F0, 0x1E96...0x1E9E, 0x212A...0x212A, 0x10400...0x10410, 0x1E900...0x1E910, 0xFB13...0xFB17),  // case folding
            scalars(0xB47...0xB4C, 0xB3E...0xB3E, 0xB56...0xB57, 0xBC6...0xBCC, 0xBBE...0xBBE, 0xBD7...0xBD7, 0xCBF...0xCCB, 0xCD5...0xCD6, 0xD46...0xD4C, 0xD3E...0xD3E, 0xD57...0xD57, 0xDD9...0xDDF, 0xDCA...0xDCF, 0x1025...0x1026, 0x102E...0x102E, 0x1B05...0x1B0E, 0x1B35...0x1B35, 0x11131...0x11132, 0x11127...0x11127, 0x11347...0x1134C, 0x1133E...0x1133E, 0x11357...0x11357, 0x16D63...0x16D6A),  // two-part vowels
            scalars(0x09...0x0D, 0x85...0x85, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000),  // white space
            scalars(0x1F469...0x1F469, 0x200D...0x200D, 0xFE00...0xFE0F, 0x1F3FB...0x1F3FF, 0x2764...0x2764, 0xE0061...0xE007F, 0xE000...0xE002),  // emoji, tags, private use
        ]
    }()

    private static func randomScalar(_ generator: inout SeededGenerator) -> Unicode.Scalar {
        if Int.random(in: 0..<20, using: &generator) == 0 {  // anything at all, now and then
            while true {
                let value = UInt32.random(in: 0x80...0x10FFFF, using: &generator)
                if let scalar = Unicode.Scalar(value) { return scalar }
            }
        }
        return pools.randomElement(using: &generator)!.randomElement(using: &generator)!
    }

    /// A random string of up to `length` scalars: mostly runs from one pool (marks in random order), mixed.
    private static func randomText(_ generator: inout SeededGenerator, length: Int) -> String {
        var scalars = String.UnicodeScalarView()
        while scalars.count < length {
            let pool = pools.randomElement(using: &generator)!
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                scalars.append(Int.random(in: 0..<4, using: &generator) == 0 ? randomScalar(&generator) : pool.randomElement(using: &generator)!)
            }
        }
        return String(scalars)
    }

    private static let rules: [TextRule] = [
        .nfc, TextRule(form: .nfkc), TextRule(foldCase: true), TextRule(form: .nfkc, foldCase: true),
        TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true), TextRule(form: .none, foldCase: true),
    ]

    private static func hex(_ text: String) -> String {
        text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " ")
    }

    @Test func piecesGiveExactlyTheWholeStringResultOnRandomText() {
        var generator = SeededGenerator(seed: 0x7E47)
        var cases = 0
        for round in 0..<3_000 {
            let text = Self.randomText(&generator, length: Int.random(in: 1...120, using: &generator))
            let rule = Self.rules[round % Self.rules.count]
            let expected = Self.wholeString(rule, text)
            // Tiny targets cut at nearly every allowed place; the default cuts as in production.
            for target in [1, 2, 7, 64] {
                let actual = rule.apply(to: text, targetBytes: target)
                #expect(actual.utf8.elementsEqual(expected.utf8), "\(rule) target \(target): \(Self.hex(text))")
                cases += 1
            }
        }
        #expect(cases == 12_000)
    }

    @Test func piecesGiveExactlyTheWholeStringResultOnLongText() {
        var generator = SeededGenerator(seed: 0xC0FFEE)
        for round in 0..<24 {
            let text = Self.randomText(&generator, length: 3_000)  // several default-size pieces
            let rule = Self.rules[round % Self.rules.count]
            #expect(rule.apply(to: text).utf8.elementsEqual(Self.wholeString(rule, text).utf8), "\(rule)")
        }
    }

    /// Every pair of special scalars, with a cut allowed right before the second whenever the rule allows
    /// one there (target 1), after and before text that composes.
    @Test func cutsBetweenEverySpecialPairAreExact() {
        let special: [Unicode.Scalar] = [
            "a", "A", "e", "\u{E9}", "\u{301}", "\u{316}", "\u{323}", "\u{307}", "\u{345}", "\u{344}", "\u{958}", "\u{93C}",
            "\u{F73}", "\u{F71}", "\u{F72}", "\u{1100}", "\u{1161}", "\u{11A8}", "\u{AC00}", "\u{AC01}", "\u{3131}", "\u{314F}",
            "\u{FFA1}", "\u{FFC2}", "\u{B47}", "\u{B3E}", "\u{B57}", "\u{DD9}", "\u{DCF}", "\u{DCA}", "\u{1025}", "\u{102E}",
            "\u{FDFA}", "\u{FB01}", "\u{FB03}", "\u{FF21}", "\u{FF76}", "\u{FF9E}", "\u{A8}", "\u{1FBF}", "\u{2126}", "\u{212B}",
            "\u{1E9B}", "\u{DF}", "\u{130}", "\u{390}", "\u{3B0}", "\u{1F80}", "\u{1FB3}", "\u{3099}", "\u{304B}", "\u{309B}",
            "\u{3000}", " ", "\u{1D15E}", "\u{1D165}", "\u{16D63}", "\u{16D67}", "\u{200D}", "\u{FE0F}", "\u{1F469}",
        ]
        for rule in [TextRule.nfc, TextRule(form: .nfkc), TextRule(form: .nfkc, foldCase: true)] {
            for first in special {
                for second in special {
                    for text in ["x" + String(first) + String(second) + "\u{301}", "\u{E9}" + String(first) + String(second)] {
                        let actual = rule.apply(to: text, targetBytes: 1)
                        #expect(actual.utf8.elementsEqual(Self.wholeString(rule, text).utf8), "\(rule): \(Self.hex(text))")
                    }
                }
            }
        }
    }

    @Test func theExampleScalarsOfTheDefectNormaliseAsBefore() {
        let examples = [
            "\u{0958}", "\u{FDFA}", "\u{1E9B}\u{0323}", "\u{1100}\u{1161}\u{11A8}", "a\u{0316}\u{0301}\u{0323}\u{0307}",
            "Stra\u{DF}e \u{130} \u{390} \u{FB03}", "\u{FF21}\u{FF22}\u{3000}x",
        ]
        for example in examples {
            let text = String(repeating: example + "a", count: 600)
            for rule in Self.rules {
                #expect(rule.apply(to: text).utf8.elementsEqual(Self.wholeString(rule, text).utf8), "\(rule): \(Self.hex(example))")
            }
        }
    }

    /// Linear work without a clock: the pieces Foundation is handed never exceed the target plus one run
    /// of scalars that cannot start a piece, however long the text, and they join to the text.
    @Test func piecesStayBoundedWhateverTheLength() {
        let bound = TextChunking.targetBytes + 4 * (TextBoundary.maxUnbrokenRun + 1)
        let units = ["\u{0958}", "\u{FDFA}", "\u{1E9B}\u{0323}", "\u{AC00}", "a" + String(repeating: "\u{0301}\u{0316}", count: 15), "x\u{0958}", "\u{0F40}" + String(repeating: "\u{0F73}", count: 30)]
        for unit in units {
            var largest: [Int] = []
            for count in [20_000, 400_000] {
                let text = String(repeating: unit, count: count / unit.utf8.count)
                var pieces: [Substring] = []
                for form in [TextNormalization.nfc, .nfkc] {
                    pieces.removeAll()
                    _ = form.apply(to: text, targetBytes: TextChunking.targetBytes) { piece in
                        pieces.append(piece)
                        return String(piece)
                    }
                    #expect(pieces.joined().utf8.elementsEqual(text.utf8))
                    #expect(pieces.count >= text.utf8.count / bound)
                }
                largest.append(pieces.map(\.utf8.count).max() ?? 0)
            }
            #expect(largest[0] == largest[1], "\(Self.hex(unit))")
            #expect(largest.allSatisfy { $0 <= bound }, "\(Self.hex(unit)): \(largest)")
        }
        // Case folding may cut anywhere.
        let folded = String(repeating: "\u{DF}\u{130}", count: 100_000)
        var foldPieces: [Int] = []
        _ = TextChunking.map(folded, allowsCut: { _ in true }, ascii: { String($0) }) { piece in
            foldPieces.append(piece.utf8.count)
            return String(piece)
        }
        #expect(foldPieces.max()! <= TextChunking.targetBytes + 4)
        let shorter = String(folded.unicodeScalars.prefix(20_000))
        #expect(TextRule.folded(shorter).utf8.elementsEqual(TextRule.foundationFolded(shorter[...]).utf8))
    }
}
