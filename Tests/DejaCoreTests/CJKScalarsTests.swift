import Testing

@testable import DejaCore

/// Which scalars the CJK spacing option counts as Chinese or Japanese text (docs/canonical-form.md §4.1).
@Suite struct CJKScalarsTests {
    @Test func chineseAndJapaneseTextAndPunctuationAreCJK() {
        let cjk: [Unicode.Scalar] = [
            "中", "文", "\u{4E00}", "\u{9FFF}", "\u{3400}", "\u{4DBF}", "\u{20000}", "\u{2A6DF}", "\u{2B740}", "\u{30000}",
            "\u{323AF}", "\u{2F800}", "\u{F900}", "\u{FA6D}", "\u{2E80}", "\u{2F00}", "\u{2FF0}", "\u{31C0}",  // Han
            "あ", "ア", "ー", "\u{3099}", "\u{309B}", "\u{31F0}", "\u{FF66}", "\u{FF70}", "\u{FF9E}", "\u{1B000}", "\u{1B132}",
            "\u{1AFF0}", "\u{1B16F}",  // kana
            "ㄅ", "\u{31A0}", "\u{3190}",  // Bopomofo, Kanbun
            "、", "。", "「", "」", "『", "〜", "々", "〇", "\u{3001}", "\u{303F}", "\u{3250}", "\u{32FF}", "\u{3300}", "\u{33FF}",
            "\u{FE10}", "\u{FE19}", "\u{FE30}", "\u{FE4F}", "\u{FE50}", "\u{FE6B}",  // vertical, compatibility and small forms
            "！", "（", "，", "：", "？", "＠", "［", "｀", "｛", "～", "｟", "｡", "｢", "･", "￠", "￥", "\u{FFE8}", "\u{FFEE}",
        ]
        for scalar in cjk {
            #expect(CJKScalars.contains(scalar), "U+\(String(scalar.value, radix: 16))")
        }
    }

    @Test func latinKoreanAndOtherScriptsAreNot() {
        let other: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "?", "\u{A0}", "é", "\u{301}", "α", "Ж", "א", "ع", "क", "ก",
            "가", "힣", "\u{1100}", "\u{11FF}", "\u{3131}", "\u{318E}", "\u{A960}", "\u{D7B0}", "\u{FFA0}", "\u{FFDC}",  // Hangul
            "Ａ", "ｚ", "０", "９", "\u{FF00}", "\u{FFEF}",  // fullwidth letters and digits, unassigned edges
            "\u{2E7F}", "\u{4DC0}", "\u{4DFF}", "\u{A000}", "\u{FE00}", "\u{FE0F}", "\u{FE20}", "\u{FE70}", "\u{1F200}",
            "\u{1F600}", "\u{16FE3}", "\u{17000}", "\u{1B170}", "\u{E0100}", "\u{40000}", "\u{10FFFF}",
        ]
        for scalar in other {
            #expect(!CJKScalars.contains(scalar), "U+\(String(scalar.value, radix: 16))")
        }
    }

    @Test func theRangesAreOrderedAndDisjoint() {
        for (lower, upper) in zip(CJKScalars.ranges, CJKScalars.ranges.dropFirst()) {
            #expect(lower.upperBound < upper.lowerBound)
        }
        // Every White_Space scalar in the ranges (U+3000) is white space first, so the pass never asks.
        let whiteInRanges = CJKScalars.ranges.flatMap { range in
            range.compactMap(Unicode.Scalar.init).filter(\.properties.isWhitespace)
        }
        #expect(whiteInRanges == ["\u{3000}"])
    }
}
