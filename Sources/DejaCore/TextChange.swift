/// One string of a request that its text rule changed, as `deja explain` shows it.
public struct TextChange: Sendable, Hashable {
    /// Where the string is: `$.q`, `$.query.q[1]`.
    public let path: String
    /// The rule that changed it (its ``TextRule/description`` is the spelling in the configuration hash).
    public let rule: TextRule
    /// The string as the request sent it.
    public let before: String
    /// The string as it is keyed and forwarded.
    public let after: String
}
