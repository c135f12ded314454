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
    public static let dejaPageMemo = Self("x-deja-page-memo")!
    /// Deja's own words for an error the task protocol words its own way.
    public static let dejaError = Self("x-deja-error")!
    /// A client's key for retries that must not be billed twice.
    public static let idempotencyKey = Self("Idempotency-Key")!
}

extension HTTPField.Name {
    /// Deja's own mark on a request the fast path held whole (its body read within the body timeout)
    /// before passing it to the router: the router reads that body without a timer of its own. The fast
    /// path's handler removes the field from every request head a client sends, so only it can set it.
    static let dejaBodyReceived = Self("x-deja-internal-body-received")!
}

extension HTTPField.Name {
    /// How much of the page's address a browser may send elsewhere.
    static let referrerPolicy = Self("Referrer-Policy")!
    /// Whether another site may show a page in a frame (older browsers; the CSP says it too).
    static let xFrameOptions = Self("X-Frame-Options")!
    /// Which site a browser's request comes from (`same-origin`, `same-site`, `cross-site`, `none`).
    static let secFetchSite = Self("Sec-Fetch-Site")!
    /// The scheme the client used, as the proxy in front of Deja that terminates TLS reports it.
    static let xForwardedProto = Self("X-Forwarded-Proto")!
}
