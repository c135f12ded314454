import Foundation

/// How the string values of a text field are normalised before keying: a Unicode form and, only when a
/// task asks for them, trimming, collapsing white space and case folding.
///
/// Applied in this order: the Unicode form; case folding (Unicode full case folding, `Straße` → `strasse`)
/// followed by the form again; collapsing every run of white space (Unicode `White_Space`, line breaks
/// included) to one U+0020; trimming white space at both ends. The default, ``nfc``, only composes.
public struct TextRule: Sendable, Hashable, CustomStringConvertible {
    /// The Unicode normalisation form.
    public var form: TextNormalization
    /// Remove white space at the start and the end.
    public var trimsWhitespace: Bool
    /// Replace every run of white space by one space (U+0020).
    public var collapsesWhitespace: Bool
    /// Fold case (Unicode full case folding, locale-independent).
    public var foldsCase: Bool

    /// Creates a rule; by default NFC and nothing else.
    public init(form: TextNormalization = .nfc, trim: Bool = false, collapseWhitespace: Bool = false, foldCase: Bool = false) {
        self.form = form
        trimsWhitespace = trim
        collapsesWhitespace = collapseWhitespace
        foldsCase = foldCase
    }

    /// NFC only: the conservative default.
    public static let nfc = TextRule()

    /// Whether the rule is only a Unicode form (or nothing at all).
    public var isFormOnly: Bool { !trimsWhitespace && !collapsesWhitespace && !foldsCase }

    /// The rule's spelling in the configuration hash and notes: the form, then `+trim`, `+collapse`,
    /// `+casefold` for each option that is on (`nfc`, `nfkc+trim+collapse`).
    public var description: String {
        var text = form.rawValue
        if trimsWhitespace { text += "+trim" }
        if collapsesWhitespace { text += "+collapse" }
        if foldsCase { text += "+casefold" }
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
        if collapsesWhitespace || trimsWhitespace {
            text = Self.spaced(text, collapse: collapsesWhitespace, trim: trimsWhitespace)
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

    private static func spaced(_ text: String, collapse: Bool, trim: Bool) -> String {
        let scalars = text.unicodeScalars
        guard scalars.contains(where: { $0.properties.isWhitespace }) else { return text }
        var out = String.UnicodeScalarView()
        var pendingSpace: [Unicode.Scalar] = []
        var seenText = false
        for scalar in scalars {
            if scalar.properties.isWhitespace {
                pendingSpace.append(scalar)
                continue
            }
            if !pendingSpace.isEmpty {
                if seenText || !trim {
                    if collapse { out.append(" ") } else { out.append(contentsOf: pendingSpace) }
                }
                pendingSpace.removeAll(keepingCapacity: true)
            }
            out.append(scalar)
            seenText = true
        }
        if !pendingSpace.isEmpty, !trim {
            if collapse { out.append(" ") } else { out.append(contentsOf: pendingSpace) }
        }
        return String(out)
    }
}
