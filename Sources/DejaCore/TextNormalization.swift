import Foundation

/// How string values in a request are Unicode-normalised before keying.
///
/// Member names are never normalised. ASCII-only strings are left as they are (every form maps ASCII to
/// itself), so long base64 and plain-ASCII text cost nothing.
public enum TextNormalization: String, Sendable, Hashable, CaseIterable {
    /// Canonical composition (NFC): composed and decomposed `é` are the same. The default.
    case nfc
    /// Compatibility composition (NFKC): also folds full-width forms, ligatures and the like (`Ａ` is `A`).
    case nfkc
    /// Strings are keyed byte for byte.
    case none

    /// `string` in this normalisation form.
    ///
    /// Exactly Foundation's normaliser (`precomposedStringWithCanonicalMapping` or
    /// `precomposedStringWithCompatibilityMapping`) on the whole string, computed piece by piece
    /// (``TextChunking``, cut where ``TextBoundary`` allows) so that the time is linear in the string plus,
    /// per run of scalars that cannot be cut before, the square of its length: Foundation's normaliser on
    /// Linux is quadratic in the length of what it is given. Callers bound those runs
    /// (``TextBoundary/maxUnbrokenRun``; ``TextNormalizer`` refuses longer ones).
    public func apply(to string: String) -> String {
        apply(to: string, targetBytes: TextChunking.targetBytes)
    }

    /// `string` in this form, cut into pieces of about `targetBytes`.
    func apply(to string: String, targetBytes: Int) -> String {
        apply(to: string, targetBytes: targetBytes) { piece in foundationNormalized(String(piece)) }
    }

    /// `string` in this form, cut into pieces of about `targetBytes`, with `normalize` applied to each piece
    /// that is not pure ASCII (tests watch the pieces through it).
    func apply(
        to string: String,
        targetBytes: Int = TextChunking.targetBytes,
        normalizingPiece normalize: (Substring) -> String
    ) -> String {
        guard self != .none, !Self.isASCII(string) else { return string }
        return TextChunking.map(
            string, targetBytes: targetBytes, allowsCut: TextBoundary.allowsCut, ascii: { String($0) }, other: normalize
        )
    }

    /// Foundation's normaliser on all of `text` at once: the definition of the form, but quadratic in the
    /// length of `text` on Linux for scalars whose normal form is longer or shorter than they are.
    func foundationNormalized(_ text: String) -> String {
        switch self {
        case .nfc: text.precomposedStringWithCanonicalMapping
        case .nfkc: text.precomposedStringWithCompatibilityMapping
        case .none: text
        }
    }

    private static func isASCII(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { utf8 in
            var combined: UInt8 = 0
            for byte in utf8 { combined |= byte }
            return combined < 0x80
        }
    }
}
