import HTTPTypes

extension HTTPField.Name {
    /// How the answer was produced: hit, miss, coalesced, stale, negative or bypass.
    public static let dejaCache = Self("x-deja-cache")!
    /// The content key, 64 lowercase hex digits.
    public static let dejaKey = Self("x-deja-key")!
    /// Tokens the answer is worth by the task's meter.
    public static let dejaTokens = Self("x-deja-tokens")!
    /// Tokens billed for this request.
    public static let dejaBilledTokens = Self("x-deja-billed-tokens")!
    /// The model version that produced the answer.
    public static let dejaModelVersion = Self("x-deja-model-version")!
    /// Set on the stored answer to an earlier request with the same `Idempotency-Key`.
    public static let dejaIdempotentReplay = Self("x-deja-idempotent-replay")!
    /// How many sensitive matches are masked in an answer served from a stored copy.
    public static let dejaRedacted = Self("x-deja-redacted")!
    /// Deja's own words for an error the task protocol words its own way.
    public static let dejaError = Self("x-deja-error")!
    /// A client's key for retries that must not be billed twice.
    public static let idempotencyKey = Self("Idempotency-Key")!
}
