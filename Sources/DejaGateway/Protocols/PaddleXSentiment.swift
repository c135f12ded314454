import DejaCore
import NIOCore

/// Text classification in the PaddleX envelope, as the bundled worker's `POST /sentiment` serves it:
/// `{"text": "..."}` answered with `result: {"label": "positive"|"negative", "score": 0.97}`.
public struct PaddleXSentiment: PaddleXEnveloped {
    public static let name = "paddlex-sentiment"

    public init() {}

    public var roles: MemberRoles {
        MemberRoles(required: ["text"], volatile: [PaddleXEnvelope.logId])
    }

    /// `text` must be a string: the model classifies one text.
    public func check(_ request: CanonicalRequest) throws(GatewayError) {
        guard let text = request.canonicalForm["text"], text.stringValue == nil else { return }
        throw GatewayError(.badRequest, "invalid request: $.text: must be a string, not \(text.kindName)", status: 400)
    }

    public func read(status: Int, body: ByteBuffer) -> ModelReply {
        PaddleXEnvelope.read(status: status, body: body) { result in
            guard result?["label"]?.stringValue != nil else { return "result.label is missing" }
            return nil
        }
    }

    /// One label per answer; input characters are the grapheme clusters of `text` as the model got it.
    public func measure(_ answer: ModelAnswer, forwardBody: [UInt8]) -> Measurement {
        minimumMeasurement(forwardBody: forwardBody)
    }

    /// The label: two versions agree when they classify the text alike, whatever their scores.
    public func comparable(_ answer: ModelAnswer) -> JSONValue {
        .object([(key: "label", value: answer.value["result"]?["label"] ?? .null)])
    }

    public func minimumMeasurement(forwardBody: [UInt8]) -> Measurement {
        let text = (try? JSONValue(parsing: forwardBody))?["text"]?.stringValue
        return Measurement(labels: 1, inputBytes: Int64(forwardBody.count), inputCharacters: Int64(text?.count ?? 0))
    }
}
