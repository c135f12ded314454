/// The scalars that the CJK spacing option of a text rule (``TextRule/removesCJKSpacing``) counts as Chinese
/// or Japanese text (docs/canonical-form.md §4.1).
///
/// Fixed ranges of code points, assigned or not, so that the set does not depend on the Unicode version of
/// the toolchain: Han ideographs (the unified block, extensions A to J in planes 2 and 3, compatibility
/// ideographs, radicals and strokes), kana (including halfwidth katakana and the kana supplements),
/// Bopomofo, and the punctuation and symbols made for that text (CJK Symbols and Punctuation, the
/// enclosed and squared CJK symbols, vertical and small forms, the fullwidth and halfwidth forms except
/// fullwidth letters and digits). Not Hangul: Korean separates words with spaces, and they change what it
/// says.
enum CJKScalars {
    /// The ranges, in increasing order.
    static let ranges: [ClosedRange<UInt32>] = [
        // CJK Radicals Supplement, Kangxi Radicals, Ideographic Description Characters, CJK Symbols and
        // Punctuation (U+3000 is white space, and white space comes first), Hiragana, Katakana, Bopomofo.
        0x2E80...0x312F,
        // Kanbun, Bopomofo Extended, CJK Strokes, Katakana Phonetic Extensions, Enclosed CJK Letters and
        // Months, CJK Compatibility, CJK Unified Ideographs Extension A.
        0x3190...0x4DBF,
        0x4E00...0x9FFF,  // CJK Unified Ideographs
        0xF900...0xFAFF,  // CJK Compatibility Ideographs
        0xFE10...0xFE1F,  // Vertical Forms
        0xFE30...0xFE6F,  // CJK Compatibility Forms, Small Form Variants
        // Fullwidth punctuation and symbols (not fullwidth digits and letters), halfwidth CJK punctuation,
        // halfwidth katakana, fullwidth signs and halfwidth symbols.
        0xFF01...0xFF0F, 0xFF1A...0xFF20, 0xFF3B...0xFF40, 0xFF5B...0xFF9F, 0xFFE0...0xFFEE,
        0x1AFF0...0x1B16F,  // Kana Extended-B, Kana Supplement, Kana Extended-A, Small Kana Extension
        0x20000...0x3FFFF,  // the Supplementary and Tertiary Ideographic Planes
    ]

    /// Whether `scalar` is in one of the ranges.
    @inline(__always)
    static func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        guard value >= 0x2E80 else { return false }
        return ranges.contains { $0.contains(value) }
    }
}
