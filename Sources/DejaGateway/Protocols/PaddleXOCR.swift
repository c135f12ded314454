import DejaCore
import NIOCore

/// PaddleX basic serving's OCR pipeline (`POST /ocr`): `{"file": <base64 or URL>, "fileType": 0|1, ...}`
/// answered with `result.ocrResults[].prunedResult` per page.
public struct PaddleXOCR: TaskProtocol {
    public static let name = "paddlex-ocr"

    public init() {}

    public var roles: MemberRoles {
        MemberRoles(binary: ["file"], required: ["file"], volatile: [PaddleXEnvelope.logId])
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

    public func minimumMeasurement(forwardBody: [UInt8]) -> Measurement {
        Measurement(pages: 1, inputBytes: Int64(forwardBody.count))
    }

    public func render(stored: ByteBuffer) -> [ByteBuffer] {
        PaddleXEnvelope.render(stored: stored)
    }

    public func renderError(status: Int, message: String) -> ByteBuffer {
        PaddleXEnvelope.renderError(status: status, message: message)
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
