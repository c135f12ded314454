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
    public func apply(to string: String) -> String {
        guard self != .none, !Self.isASCII(string) else { return string }
        switch self {
        case .nfc: return string.precomposedStringWithCanonicalMapping
        case .nfkc: return string.precomposedStringWithCompatibilityMapping
        case .none: return string
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
