import DejaCore
import NIOCore

/// PDFs page by page: what the page memo keys a page on, how an answer is cut into pages and put
/// back together (docs/ARCHITECTURE.md, "The page memo").
///
/// The worker renders each page of a `fileType: 0` PDF and answers one `ocrResults` entry per page,
/// with the page's rendered size in `dataInfo.pages`; an entry depends only on the page's pixels and
/// the request's options. So a page's answer is kept under the request's canonical form with `file`
/// replaced by `pdf-page-sha256:<what the page renders as>` (``DejaCore/PDFPages/identities(_:limits:)``)
/// and `fileType` left out — a value no client's request can have, since a client's `file` is always
/// replaced by the digest of its bytes or kept as a URL. The other members are the forward body's: the
/// canonical form's with every declared default, so two requests with one key have one page key per page.
extension PaddleXOCR {
    /// The prefix of a page's `file` in its canonical form.
    static let pagePrefix = "pdf-page-sha256:"

    public func pageForms(forwardBody: [UInt8], limits: ImageLimits) -> [JSONValue]? {
        guard Self.holdsPDF(forwardBody),
              let forward = try? JSONValue(parsing: forwardBody, limits: JSONLimits(maxStringBytes: forwardBody.count)),
              case .object(let members) = forward,
              forward["fileType"]?.numberValue?.int64Value == 0,
              let file = forward["file"]?.stringValue,
              let pages = PDFPages.identities(base64: file, limits: limits)
        else { return nil }
        let others = members.filter { $0.key != "file" && $0.key != "fileType" }
        return pages.map { page in
            var form = others
            form.append((key: "file", value: .string(Self.pagePrefix + page.hex)))
            return .object(form)  // keyed by its canonicalBytes(), which sort the members
        }
    }

    /// Each page as `{"page":<its dataInfo.pages entry>,"ocrResult":<its ocrResults entry>}`, both spelled
    /// as the model wrote them. Only a PDF's answer (`dataInfo.type` `pdf`) whose page count, sizes and
    /// entries agree is cut.
    public func pages(of answer: ModelAnswer) -> [ByteBuffer]? {
        let stored = Array(buffer: answer.stored)
        guard let result = JSONMembers.spelling(of: "result", in: stored),
              let results = JSONMembers.spelling(of: "ocrResults", in: result).flatMap(JSONMembers.elements(of:)),
              let info = JSONMembers.spelling(of: "dataInfo", in: result),
              JSONMembers.value(of: "type", in: info)?.stringValue == "pdf",
              let sizes = JSONMembers.spelling(of: "pages", in: info).flatMap(JSONMembers.elements(of:)),
              JSONMembers.value(of: "numPages", in: info)?.numberValue?.int64Value == Int64(results.count),
              !results.isEmpty, sizes.count == results.count,
              answer.value["errorCode"]?.numberValue?.int64Value == 0
        else { return nil }
        return zip(sizes, results).map { size, result in
            var piece = ByteBuffer()
            piece.reserveCapacity(size.count + result.count + 24)
            piece.writeString(#"{"page":"#)
            piece.writeBytes(size)
            piece.writeString(#","ocrResult":"#)
            piece.writeBytes(result)
            piece.writeString("}")
            return piece
        }
    }

    /// The worker's answer to a PDF of these pages, member for member and byte for byte (without the
    /// `logId`, which every answer gets afresh).
    public func assemble(pages: [ByteBuffer]) -> ModelAnswer? {
        guard !pages.isEmpty else { return nil }
        var results: [[UInt8]] = [], sizes: [[UInt8]] = []
        for piece in pages {
            let bytes = Array(buffer: piece)
            guard let size = JSONMembers.spelling(of: "page", in: bytes),
                  let result = JSONMembers.spelling(of: "ocrResult", in: bytes)
            else { return nil }
            sizes.append(size)
            results.append(result)
        }
        var out: [UInt8] = Array(#"{"result":{"ocrResults":["#.utf8)
        out += Self.joined(results)
        out += Array(#"],"dataInfo":{"numPages":"#.utf8) + Array(String(pages.count).utf8) + Array(#","pages":["#.utf8)
        out += Self.joined(sizes)
        out += Array(#"],"type":"pdf"}},"errorCode":0,"errorMsg":"Success"}"#.utf8)
        guard let value = try? JSONValue(parsing: out, limits: JSONLimits(maxStringBytes: out.count)) else { return nil }
        return ModelAnswer(stored: ByteBuffer(bytes: out), value: value)
    }

    private static func joined(_ parts: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(parts.reduce(parts.count) { $0 + $1.count })
        for (index, part) in parts.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += part
        }
        return out
    }
}
