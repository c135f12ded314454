/// How many tokens an upstream answer is worth; the basis of billing.
///
/// Pure: reads only the answer and the input size. Arithmetic saturates at `Int64.max` instead of trapping.
public enum Meter: Sendable, Hashable {
    /// A flat price per answered request.
    case perRequest(Int64)
    /// A price per page: PaddleX `result.dataInfo.numPages` when present, else the length of
    /// `result.ocrResults`; never fewer than one page.
    case perPage(Int64)
    /// A price per recognised character: the characters (grapheme clusters) of every string in every
    /// `rec_texts` array anywhere in the answer.
    case perOutputCharacter(Int64)
    /// A price per started KiB of input (`inputBytes` rounded up to whole KiB).
    case perInputKiB(Int64)
    /// The sum of several meters.
    case sum([Meter])

    /// The OCR default: 10 tokens per page.
    public static let ocrDefault = Meter.perPage(10)

    /// Tokens the answer is worth; `inputBytes` is the size of the model input (e.g. decoded file bytes).
    public func tokens(answer: JSONValue, inputBytes: Int) -> Int64 {
        switch self {
        case .perRequest(let price):
            return price
        case .perPage(let price):
            return Self.multiply(price, Self.pages(in: answer))
        case .perOutputCharacter(let price):
            return Self.multiply(price, Self.recognisedCharacters(in: answer))
        case .perInputKiB(let price):
            let kib = (Int64(max(0, inputBytes)) + 1023) / 1024
            return Self.multiply(price, kib)
        case .sum(let meters):
            return meters.reduce(Int64(0)) { total, meter in
                let (sum, overflow) = total.addingReportingOverflow(meter.tokens(answer: answer, inputBytes: inputBytes))
                return overflow ? Int64.max : sum
            }
        }
    }

    static func pages(in answer: JSONValue) -> Int64 {
        let result = answer["result"]
        if let pages = result?["dataInfo"]?["numPages"]?.numberValue?.int64Value {
            return max(1, pages)
        }
        return max(1, Int64(result?["ocrResults"]?.arrayValue?.count ?? 1))
    }

    static func recognisedCharacters(in value: JSONValue) -> Int64 {
        switch value {
        case .array(let elements):
            return elements.reduce(0) { $0 + recognisedCharacters(in: $1) }
        case .object(let members):
            return members.reduce(0) { total, member in
                if member.key == "rec_texts", case .array(let texts) = member.value {
                    return total + texts.reduce(0) { $0 + Int64($1.stringValue?.count ?? 0) }
                }
                return total + recognisedCharacters(in: member.value)
            }
        case .null, .bool, .number, .string:
            return 0
        }
    }

    private static func multiply(_ price: Int64, _ count: Int64) -> Int64 {
        let (product, overflow) = price.multipliedReportingOverflow(by: count)
        return overflow ? (price < 0 ? Int64.min : Int64.max) : product
    }
}
