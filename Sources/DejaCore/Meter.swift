/// What one model answer amounts to, in the units a price can be set in.
///
/// A task's wire protocol reads these off the answer and the request (see the gateway's
/// `TaskProtocol.measure`); DejaCore knows no protocol's fields.
public struct Measurement: Sendable, Hashable {
    /// Pages the answer covers; at least one.
    public var pages: Int64
    /// Characters (grapheme clusters) of recognised or generated text in the answer.
    public var outputCharacters: Int64
    /// Labels the answer assigns (one per classified input).
    public var labels: Int64
    /// Bytes of model input (decoded file bytes, or the forwarded body).
    public var inputBytes: Int64
    /// Characters (grapheme clusters) of text input.
    public var inputCharacters: Int64
    /// Tokens the model reports having used (an LLM's `usage`), for protocols whose answers say so.
    public var modelTokens: Int64

    public init(
        pages: Int64 = 1, outputCharacters: Int64 = 0, labels: Int64 = 0, inputBytes: Int64 = 0, inputCharacters: Int64 = 0,
        modelTokens: Int64 = 0
    ) {
        self.pages = max(1, pages)
        self.outputCharacters = max(0, outputCharacters)
        self.labels = max(0, labels)
        self.inputBytes = max(0, inputBytes)
        self.inputCharacters = max(0, inputCharacters)
        self.modelTokens = max(0, modelTokens)
    }
}

/// How many tokens an answer is worth; the basis of billing.
///
/// Pure: prices a ``Measurement``. Arithmetic saturates at `Int64.max` instead of trapping.
public enum Meter: Sendable, Hashable {
    /// A flat price per answered request.
    case perRequest(Int64)
    /// A price per page (``Measurement/pages``, never fewer than one).
    case perPage(Int64)
    /// A price per character of recognised or generated text.
    case perOutputCharacter(Int64)
    /// A price per label assigned.
    case perLabel(Int64)
    /// A price per started KiB of input (``Measurement/inputBytes`` rounded up to whole KiB).
    case perInputKiB(Int64)
    /// A price per character of text input.
    case perInputCharacter(Int64)
    /// A price per token the model reports.
    case perModelToken(Int64)
    /// The sum of several meters.
    case sum([Meter])

    /// The OCR default: 10 tokens per page.
    public static let ocrDefault = Meter.perPage(10)

    /// Tokens `measurement` is worth.
    public func tokens(for measurement: Measurement) -> Int64 {
        switch self {
        case .perRequest(let price):
            return price
        case .perPage(let price):
            return Self.multiply(price, measurement.pages)
        case .perOutputCharacter(let price):
            return Self.multiply(price, measurement.outputCharacters)
        case .perLabel(let price):
            return Self.multiply(price, measurement.labels)
        case .perInputKiB(let price):
            return Self.multiply(price, (measurement.inputBytes + 1023) / 1024)
        case .perInputCharacter(let price):
            return Self.multiply(price, measurement.inputCharacters)
        case .perModelToken(let price):
            return Self.multiply(price, measurement.modelTokens)
        case .sum(let meters):
            return meters.reduce(Int64(0)) { total, meter in
                let (sum, overflow) = total.addingReportingOverflow(meter.tokens(for: measurement))
                return overflow ? Int64.max : sum
            }
        }
    }

    private static func multiply(_ price: Int64, _ count: Int64) -> Int64 {
        let (product, overflow) = price.multipliedReportingOverflow(by: count)
        return overflow ? (price < 0 ? Int64.min : Int64.max) : product
    }
}
