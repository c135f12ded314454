/// Where a string may be cut so that normalising the pieces and joining them gives exactly what normalising
/// the whole string gives (docs/canonical-form.md §4.2).
///
/// A cut is allowed right before a scalar that nothing before it can be tied to: ASCII, or any assigned
/// scalar with canonical combining class 0 that is not a mark (general category Mn, Mc, Me), not a Hangul
/// vowel or trailing consonant jamo and not a Kirat Rai vowel sign. Such a scalar starts a segment of its
/// own in every normaliser: nothing before it is reordered past it (its class is 0), and nothing before it
/// composes with it, because in every canonical composition whose second scalar has class 0 that second
/// scalar is a mark, a Hangul vowel or trailing jamo or (since Unicode 16) a Kirat Rai vowel sign; and its
/// canonical decomposition starts with such a scalar too. (Its compatibility decomposition may not:
/// U+FF9E becomes U+3099. That cut is exact because Foundation's NFKC never composes across the edge of
/// a compatibility decomposition.) Unassigned scalars are never cut before: a later Unicode version may
/// make them marks. `TextBoundaryTests` checks the rule against the standard library's decompositions and
/// against Foundation's normaliser on every scalar.
enum TextBoundary {
    /// The longest run of scalars before none of which a cut is allowed that a normalised string may hold
    /// (UAX #15's stream-safe limit is 30 non-starters in a row; this counts the other scalars in the
    /// definition above too). Real text has a handful; a longer run is refused, since Foundation's
    /// normaliser sorts such a run in time quadratic in its length.
    static let maxUnbrokenRun = 30

    /// Whether a string may be cut right before `scalar`.
    @inline(__always)
    static func allowsCut(before scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return true }
        // Hangul vowel and trailing consonant jamo (conjoining and extended-B) and the Kirat Rai vowel
        // signs are letters that compose with what precedes them.
        if (0x1160...0x11FF).contains(value) || (0xD7B0...0xD7FF).contains(value) || (0x16D63...0x16D6A).contains(value) {
            return false
        }
        let properties = scalar.properties
        guard properties.canonicalCombiningClass == .notReordered else { return false }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .unassigned, .surrogate: return false
        default: return true
        }
    }

    /// The length of the longest run of scalars in `string` before none of which a cut is allowed.
    static func longestUnbrokenRun(in string: String) -> Int {
        var longest = 0
        var run = 0
        for scalar in string.unicodeScalars {
            if allowsCut(before: scalar) {
                run = 0
            } else {
                run += 1
                longest = max(longest, run)
            }
        }
        return longest
    }
}
