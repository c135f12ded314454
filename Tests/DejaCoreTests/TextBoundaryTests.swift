@_spi(_Unicode) import Swift  // the standard library's own decomposition data (`_nfd`), to check the cut rule
import Foundation
import Testing

@testable import DejaCore

@Suite struct TextBoundaryTests {
    /// Every scalar, as a one-scalar string.
    private static let allScalars: [Unicode.Scalar] = (0...0x10FFFF).compactMap(Unicode.Scalar.init(_:))

    @Test func nothingComposesWithAScalarACutIsAllowedBefore() {
        // Composition runs on the canonical decomposition; every scalar after the first of a decomposition
        // that composes back is the second of some composition, and a cut before it would split the pair.
        var seconds = 0
        for scalar in Self.allScalars {
            let decomposed = Array(String(scalar)._nfd)
            guard decomposed.count >= 2 else { continue }
            for second in decomposed.dropFirst() {
                seconds += 1
                #expect(!TextBoundary.allowsCut(before: second), "U+\(String(second.value, radix: 16)) from U+\(String(scalar.value, radix: 16))")
            }
        }
        #expect(seconds > 2_000)
        // Hangul syllables are composed algorithmically: vowels after a leading consonant, trailing
        // consonants after a syllable.
        #expect(!TextBoundary.allowsCut(before: "\u{1161}") && !TextBoundary.allowsCut(before: "\u{11A8}"))
        #expect(TextBoundary.allowsCut(before: "\u{1100}") && TextBoundary.allowsCut(before: "\u{AC00}"))
    }

    @Test func aScalarACutIsAllowedBeforeDecomposesToOneToo() {
        for scalar in Self.allScalars where TextBoundary.allowsCut(before: scalar) {
            let first = Array(String(scalar)._nfd)[0]
            #expect(TextBoundary.allowsCut(before: first), "U+\(String(scalar.value, radix: 16))")
        }
    }

    @Test func marksJamoAndUnassignedScalarsAreNeverCutBefore() {
        for scalar: Unicode.Scalar in ["\u{0301}", "\u{0316}", "\u{093F}", "\u{0B3E}", "\u{0F73}", "\u{20DD}", "\u{FE0F}", "\u{11A8}", "\u{16D67}", "\u{0378}", "\u{E0100}"] {
            #expect(!TextBoundary.allowsCut(before: scalar), "U+\(String(scalar.value, radix: 16))")
        }
        for scalar: Unicode.Scalar in ["a", "\n", "\u{E9}", "\u{0958}", "\u{FDFA}", "\u{FB01}", "\u{AC00}", "\u{3131}", "\u{1F469}", "\u{200D}", "\u{E000}"] {
            #expect(TextBoundary.allowsCut(before: scalar), "U+\(String(scalar.value, radix: 16))")
        }
    }

    /// The rule is exact for Foundation's normaliser: for every scalar a cut is allowed before (sampled in
    /// the large uniform blocks), normalising across the cut equals normalising each side, after contexts
    /// that exercise each way Foundation looks ahead (a decomposed character, a mark run, a Hangul leading
    /// consonant or syllable, a two-part vowel's first half, a compatibility decomposition).
    @Test func aCutIsExactForFoundationOnEveryScalar() {
        let before = ["a", "e\u{301}\u{316}", "\u{0958}", "\u{2126}", "\u{1100}", "\u{AC00}", "\u{0B47}", "\u{FF76}", "\u{3131}", "\u{FB01}"]
        let after = ["", "\u{301}"]
        var checked = 0
        for scalar in Self.allScalars where TextBoundary.allowsCut(before: scalar) && !scalar.isASCII {
            let properties = scalar.properties
            if properties.generalCategory == .privateUse || properties.isIdeographic || (0xAC00...0xD7A3).contains(scalar.value) {
                guard scalar.value % 61 == 0 else { continue }
            }
            let text = String(scalar)
            for form in [TextNormalization.nfc, .nfkc] {
                for prefix in before {
                    for suffix in after {
                        let whole = form.foundationNormalized(prefix + text + suffix)
                        let cut = form.foundationNormalized(prefix) + form.foundationNormalized(text + suffix)
                        if !whole.unicodeScalars.elementsEqual(cut.unicodeScalars) {
                            Issue.record("U+\(String(scalar.value, radix: 16)) after \(prefix.unicodeScalars.map(\.value)) in \(form)")
                        }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 1_000_000)
    }

    @Test func longestUnbrokenRunCountsScalarsThatCannotStartAPiece() {
        #expect(TextBoundary.longestUnbrokenRun(in: "") == 0)
        #expect(TextBoundary.longestUnbrokenRun(in: "abc \u{0958}\u{FDFA}") == 0)
        #expect(TextBoundary.longestUnbrokenRun(in: "e\u{301}\u{316}x\u{301}") == 2)
        #expect(TextBoundary.longestUnbrokenRun(in: "\u{301}\u{301}\u{301}a") == 3)
        #expect(TextBoundary.longestUnbrokenRun(in: "\u{1100}\u{1161}\u{11A8}\u{1100}\u{1161}") == 2)
    }
}
