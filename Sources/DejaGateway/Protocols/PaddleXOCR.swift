import DejaCore
import NIOCore

/// PaddleX basic serving's OCR pipeline (`POST /ocr`): `{"file": <base64 or URL>, "fileType": 0|1, ...}`
/// answered with `result.ocrResults[].prunedResult` per page.
public struct PaddleXOCR: PaddleXEnveloped {
    public static let name = "paddlex-ocr"

    public init() {}

    /// `{"file": <base64>, "fileType": 1}`: an image, with every option at its default.
    public func imageRequest(base64: String) -> [UInt8]? {
        Array(#"{"file":""#.utf8) + Array(base64.utf8) + Array(#"","fileType":1}"#.utf8)
    }

    public var roles: MemberRoles {
        MemberRoles(binary: ["file"], required: ["file"], volatile: [PaddleXEnvelope.logId])
    }

    /// The members of PaddleX 3.7.2's OCR `InferRequest` after `file`, in its field order, with the
    /// types its lax validation accepts (paddlex/inference/serving/schemas/ocr.py, shared/ocr.py).
    static let fields: [(name: String, type: PaddleXValidation.FieldType)] = [
        ("fileType", .zeroOrOne), ("useDocOrientationClassify", .bool), ("useDocUnwarping", .bool),
        ("useTextlineOrientation", .bool), ("textDetLimitSideLen", .int), ("textDetLimitType", .string),
        ("textDetThresh", .float), ("textDetBoxThresh", .float), ("textDetUnclipRatio", .float),
        ("textRecScoreThresh", .float), ("returnWordBox", .bool), ("visualize", .bool),
    ]

    /// PaddleX's own refusals for the options' types (422, its validation list); unknown members are
    /// ignored, as PaddleX ignores them.
    public func check(_ request: CanonicalRequest) throws(GatewayError) {
        let problems = PaddleXValidation.problems(in: request.canonicalForm, fields: Self.fields)
        guard !problems.isEmpty else { return }
        let names = problems.map { $0.loc.dropFirst("body.".count) }.joined(separator: ", ")
        throw PaddleXValidation.refusal(problems, detail: "invalid request: wrong type for \(names) (see the PaddleX OCR request schema)")
    }

    /// PaddleX's answer where PaddleX refuses the body too (malformed JSON, not an object, `file`
    /// missing or not a string, `file` not base64); Deja's own otherwise.
    public func requestError(_ error: CanonicalError, body: ByteBuffer) -> GatewayError {
        PaddleXValidation.refusal(for: error, body: body, required: "file") ?? GatewayError.badRequest(error)
    }

    public func read(status: Int, body: ByteBuffer) -> ModelReply {
        PaddleXEnvelope.read(status: status, body: body) { result in
            guard let result else { return nil }  // tolerated: metered as one page
            return result.objectValue == nil ? "result is not an object" : nil
        }
    }

    /// Pages: `result.dataInfo.numPages` when present, else the length of `result.ocrResults`, at least
    /// one. Output characters: the grapheme clusters of every string in every `rec_texts` array.
    public func measure(_ answer: ModelAnswer, forwardBody: [UInt8]) -> Measurement {
        Measurement(
            pages: Self.pages(in: answer.value), outputCharacters: Self.recognisedCharacters(in: answer.value),
            inputBytes: Int64(forwardBody.count)
        )
    }

    /// One page, or a PDF's page count read from the file before the model reads it, so that a 50-page PDF
    /// cannot pass a budget as one page.
    public func minimumMeasurement(forwardBody: [UInt8]) -> Measurement {
        Measurement(pages: Self.leastPages(forwardBody: forwardBody), inputBytes: Int64(forwardBody.count))
    }

    /// The pages a reservation assumes for a PDF whose page tree is not read for certain (encrypted,
    /// broken, past the reader's limits): the worker's page cap, so such a PDF is held at the most it can cost.
    public static let unreadPDFPages: Int64 = 100

    /// The pages the forward body's `file` amounts to at least: a PDF's page count, ``unreadPDFPages`` for
    /// a PDF whose page tree is not read for certain, one for anything else. A body whose `file` is not
    /// base64 of `%PDF-` (`JVBERi0`) costs one byte search.
    static func leastPages(forwardBody: [UInt8]) -> Int64 {
        guard holdsPDF(forwardBody),
              let body = try? JSONValue(parsing: forwardBody, limits: JSONLimits(maxStringBytes: forwardBody.count)),
              let file = body["file"]?.stringValue
        else { return 1 }
        switch PDFPages.count(base64: file) {
        case .notPDF: return 1
        case .pages(let pages): return Int64(pages)
        case .unknown: return unreadPDFPages
        }
    }

    /// Whether the forward body's `file` is base64 of `%PDF-` (`JVBERi0`): one byte search.
    static func holdsPDF(_ forwardBody: [UInt8]) -> Bool {
        contains(forwardBody, Array(#""file":"JVBERi0"#.utf8))
    }

    /// Whether the forward body's `file` is base64 of a PNG signature (`iVBORw0KGgo`): one byte search.
    static func holdsPNG(_ forwardBody: [UInt8]) -> Bool {
        contains(forwardBody, Array(#""file":"iVBORw0KGgo"#.utf8))
    }

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, bytes.count >= needle.count else { return false }
        var index = 0
        while index <= bytes.count - needle.count {
            if bytes[index] == first, bytes[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    /// Per page, the recognised texts and their boxes (`rec_texts`, `rec_boxes` of `prunedResult`): not
    /// the scores, nor the settings and intermediate polygons a model server echoes.
    public func comparable(_ answer: ModelAnswer) -> JSONValue {
        let pages = answer.value["result"]?["ocrResults"]?.arrayValue ?? []
        return .object([(key: "pages", value: .array(pages.map { page in
            let pruned = page["prunedResult"]
            return .object([
                (key: "texts", value: pruned?["rec_texts"] ?? .null),
                (key: "boxes", value: pruned?["rec_boxes"] ?? .null),
            ])
        }))])
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
}
