/// One piece of sensitive data that ``SensitiveScanner`` found.
public struct SensitiveMatch: Sendable, Equatable {
    /// What was found.
    public var kind: SensitiveKind
    /// The text as found, separators and prefix included (always ASCII).
    public var text: String
    /// `text` with the hidden characters replaced by `*`; same length as `text`.
    public var masked: String

    /// Creates a match.
    public init(kind: SensitiveKind, text: String, masked: String) {
        self.kind = kind
        self.text = text
        self.masked = masked
    }
}
