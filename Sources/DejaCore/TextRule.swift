import Foundation

/// How the string values of a text field are normalised before keying: a Unicode form and, only when a
/// task asks for them, trimming, collapsing white space, removing white space next to CJK text and case
/// folding.
///
/// Applied in this order: the Unicode form; case folding (Unicode full case folding, `Straße` → `strasse`)
/// followed by the form again; then one pass over the runs of white space (Unicode `White_Space`, line
/// breaks included) that removes a run at either end (trimming), else removes a run next to Chinese or
/// Japanese text (``removesCJKSpacing``), else makes it one U+0020 (collapsing). The default, ``nfc``, only
/// composes.
public struct TextRule: Sendable, Hashable, CustomStringConvertible {
    /// The Unicode normalisation form.
    public var form: TextNormalization
    /// Remove white space at the start and the end.
    public var trimsWhitespace: Bool
    /// Replace every run of white space by one space (U+0020).
    public var collapsesWhitespace: Bool
    /// Fold case (Unicode full case folding, locale-independent).
    public var foldsCase: Bool
    /// Remove every run of white space next to a CJK character (``CJKScalars``: Han, kana, Bopomofo and
    /// their punctuation, not Hangul), where spaces carry no meaning; runs between other text stay.
    public var removesCJKSpacing: Bool

    /// Creates a rule; by default NFC and nothing else.
    public init(
        form: TextNormalization = .nfc, trim: Bool = false, collapseWhitespace: Bool = false, foldCase: Bool = false,
        cjkSpacing: Bool = false
    ) {
        self.form = form
        trimsWhitespace = trim
        collapsesWhitespace = collapseWhitespace
        foldsCase = foldCase
        removesCJKSpacing = cjkSpacing
    }

    /// NFC only: the conservative default.
    public static let nfc = TextRule()

    /// Whether the rule is only a Unicode form (or nothing at all).
    public var isFormOnly: Bool { !trimsWhitespace && !collapsesWhitespace && !foldsCase && !removesCJKSpacing }

    /// Whether the rule changes white space.
    var handlesWhitespace: Bool { trimsWhitespace || collapsesWhitespace || removesCJKSpacing }

    /// The rule's spelling in the configuration hash and notes: the form, then `+trim`, `+collapse`,
    /// `+casefold`, `+cjk` for each option that is on (`nfc`, `nfkc+trim+collapse+cjk`).
    public var description: String {
        var text = form.rawValue
        if trimsWhitespace { text += "+trim" }
        if collapsesWhitespace { text += "+collapse" }
        if foldsCase { text += "+casefold" }
        if removesCJKSpacing { text += "+cjk" }
        return text
    }

    /// `string` under this rule, in time linear in the string for runs of at most
    /// ``TextBoundary/maxUnbrokenRun`` scalars that cannot be cut before (see ``TextNormalization/apply(to:)``).
    public func apply(to string: String) -> String {
        apply(to: string, targetBytes: TextChunking.targetBytes)
    }

    /// `string` under this rule, normalised and folded in pieces of about `targetBytes`.
    func apply(to string: String, targetBytes: Int) -> String {
        var text = form.apply(to: string, targetBytes: targetBytes)
        if foldsCase {
            if text.utf8.allSatisfy({ $0 < 0x80 }) {
                text = text.lowercased()
            } else {
                text = form.apply(to: Self.folded(text, targetBytes: targetBytes), targetBytes: targetBytes)
            }
        }
        if handlesWhitespace {
            text = spaced(text)
        }
        return text
    }

    /// Foundation's locale-independent case folding of `text`, piece by piece: it maps each scalar on its
    /// own, so any cut is exact, and pieces keep its quadratic cost on Linux bounded.
    static func folded(_ text: String, targetBytes: Int = TextChunking.targetBytes) -> String {
        TextChunking.map(text, targetBytes: targetBytes, allowsCut: { _ in true }, ascii: { $0.lowercased() }, other: foundationFolded)
    }

    /// Foundation's case folding on all of `text` at once (quadratic in its length on Linux).
    static func foundationFolded(_ text: Substring) -> String {
        String(text).folding(options: [.caseInsensitive], locale: nil)
    }
}
