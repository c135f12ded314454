/// A kind of personal or business data that ``SensitiveScanner`` finds by its format and checksum.
///
/// The cases are declared in priority order: when two candidates overlap, the earlier kind wins.
public enum SensitiveKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// A mainland China resident ID number: 18 characters, a real province code, a valid birth date
    /// (1900–2099) and the GB 11643 check character. Masked as `110105********002X`.
    case idNumber
    /// A unified social credit code: 18 characters, GB 32100 check character. Masked as `91350100*********3`.
    case creditCode
    /// A bank card number: 16–19 digits starting with 3–6, Luhn valid, contiguous or in groups. The first 6
    /// and last 4 digits stay visible.
    case bankCard
    /// A mainland mobile number, `1[3-9]` and nine digits, counted only next to a context word or standing
    /// alone. Masked as `138****8000`.
    case mobile
    /// An ASCII e-mail address. Only the first character of the local part stays visible.
    case email
}
