import DejaCore
import NIOCore

/// Pages of PDFs and images: what the page memo keys a page on, how an answer is cut into pages and
/// put back together (docs/ARCHITECTURE.md, "The page memo").
///
/// The worker renders each page of a `fileType: 0` PDF and answers one `ocrResults` entry per page,
/// with the page's rendered size in `dataInfo.pages`; an image (`fileType: 1`) is a page of one, its
/// size in `dataInfo`. An entry depends only on the array of pixels the OCR reads and the request's
/// options. So a page's answer is kept under the request's canonical form with `fileType` left out and
/// `file` replaced by what the page is:
/// - `pdf-page-sha256:<hex>`, what the page of a PDF draws (``DejaCore/PDFPages/identities(_:limits:)``),
///   which the gateway reads from the file itself;
/// - `page-rgb8-sha256:<hex>`, the pixels the OCR reads (``DejaCore/PagePixels``), which the gateway
///   reads from a plain 8-bit RGB PNG and asks the worker for a PDF's pages (`POST /deja/page-pixels`).
/// No client's request has either value: a client's `file` is always replaced by the digest of its bytes
/// or kept as a URL. The other members are the forward body's: the canonical form's with every declared
/// default, so two requests with one key have one page key per page.
extension PaddleXOCR {
    /// The prefix of a PDF page's `file` in its page form.
    static let pdfPagePrefix = "pdf-page-sha256:"
    /// The prefix of a page's `file` keyed on its pixels.
    static let pixelsPrefix = "page-rgb8-sha256:"
    /// The worker's route that renders a PDF's pages without the OCR (not PaddleX's: a model server
    /// without it answers 404, and PDFs are then matched with PDFs only).
    static let pixelsPath = "/deja/page-pixels"

    public func pageForms(forwardBody: [UInt8], limits: ImageLimits, images: Bool) -> [JSONValue]? {
        let pdf = Self.holdsPDF(forwardBody)
        guard pdf || (images && Self.holdsPNG(forwardBody)),
              let (members, fileType, file) = Self.fileMembers(forwardBody)
        else { return nil }
        if pdf, fileType == 0, let pages = PDFPages.identities(base64: file, limits: limits) {
            return Self.forms(members, files: pages.map { Self.pdfPagePrefix + $0.hex })
        }
        if !pdf, fileType == 1, let pixels = PagePixels.identity(base64: file, limits: limits) {
            return Self.forms(members, files: [Self.pixelsPrefix + pixels.hex])
        }
        return nil
    }

    public func pixelsRequest(forwardBody: [UInt8]) -> (path: String, body: [UInt8])? {
        guard Self.holdsPDF(forwardBody), let (_, fileType, file) = Self.fileMembers(forwardBody), fileType == 0 else { return nil }
        return (Self.pixelsPath, JSONValue.object([(key: "file", value: .string(file))]).canonicalBytes())
    }

    public func pixelForms(reply: [UInt8], forwardBody: [UInt8]) -> [JSONValue]? {
        guard let answer = try? JSONValue(parsing: reply, limits: JSONLimits(maxStringBytes: reply.count)),
              answer["errorCode"]?.numberValue?.int64Value == 0,
              case .array(let pages) = answer["result"]?["pages"] ?? .null, !pages.isEmpty,
              let (members, _, _) = Self.fileMembers(forwardBody)
        else { return nil }
        var files: [String] = []
        for page in pages {
            // 64 lowercase hexadecimal digits, as the worker writes a SHA-256.
            guard let hex = page.stringValue, CacheKey(hex: hex)?.hex == hex else { return nil }
            files.append(Self.pixelsPrefix + hex)
        }
        return Self.forms(members, files: files)
    }

    /// Each page as `{"page":{"width":…,"height":…},"ocrResult":<its ocrResults entry>}`, both spelled as
    /// the model wrote them. Only a PDF's answer (`dataInfo.type` `pdf`) whose page count, sizes and
    /// entries agree, or an image's answer of one entry, is cut.
    public func pages(of answer: ModelAnswer) -> [ByteBuffer]? {
        let stored = Array(buffer: answer.stored)
        guard answer.value["errorCode"]?.numberValue?.int64Value == 0,
              let result = JSONMembers.spelling(of: "result", in: stored),
              let results = JSONMembers.spelling(of: "ocrResults", in: result).flatMap(JSONMembers.elements(of:)),
              let info = JSONMembers.spelling(of: "dataInfo", in: result),
              !results.isEmpty
        else { return nil }
        let sizes: [[UInt8]]
        switch JSONMembers.value(of: "type", in: info)?.stringValue {
        case "pdf":
            guard let pages = JSONMembers.spelling(of: "pages", in: info).flatMap(JSONMembers.elements(of:)),
                  JSONMembers.value(of: "numPages", in: info)?.numberValue?.int64Value == Int64(results.count),
                  pages.count == results.count
            else { return nil }
            sizes = pages
        case "image":
            guard results.count == 1,
                  let width = JSONMembers.spelling(of: "width", in: info), let height = JSONMembers.spelling(of: "height", in: info)
            else { return nil }
            sizes = [Array(#"{"width":"#.utf8) + width + Array(#","height":"#.utf8) + height + [UInt8(ascii: "}")]]
        default:
            return nil
        }
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

    /// The worker's answer to the PDF or image of `forwardBody` with these pages, member for member and
    /// byte for byte (without the `logId`, which every answer gets afresh).
    public func assemble(pages: [ByteBuffer], forwardBody: [UInt8]) -> ModelAnswer? {
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
        if Self.holdsPDF(forwardBody) {
            out += Array(#"],"dataInfo":{"numPages":"#.utf8) + Array(String(pages.count).utf8) + Array(#","pages":["#.utf8)
            out += Self.joined(sizes)
            out += Array(#"],"type":"pdf"}},"errorCode":0,"errorMsg":"Success"}"#.utf8)
        } else {
            // An image: its size members, then its type.
            guard pages.count == 1, let size = sizes.first, size.last == UInt8(ascii: "}") else { return nil }
            out += Array(#"],"dataInfo":"#.utf8) + size.dropLast() + Array(#","type":"image"}},"errorCode":0,"errorMsg":"Success"}"#.utf8)
        }
        guard let value = try? JSONValue(parsing: out, limits: JSONLimits(maxStringBytes: out.count)) else { return nil }
        return ModelAnswer(stored: ByteBuffer(bytes: out), value: value)
    }

    /// The forward body's members other than `file` and `fileType`, its `fileType` and its `file`.
    private static func fileMembers(_ forwardBody: [UInt8]) -> ([(key: String, value: JSONValue)], Int64, String)? {
        guard let forward = try? JSONValue(parsing: forwardBody, limits: JSONLimits(maxStringBytes: forwardBody.count)),
              case .object(let members) = forward,
              let fileType = forward["fileType"]?.numberValue?.int64Value,
              let file = forward["file"]?.stringValue
        else { return nil }
        return (members.filter { $0.key != "file" && $0.key != "fileType" }, fileType, file)
    }

    private static func forms(_ members: [(key: String, value: JSONValue)], files: [String]) -> [JSONValue] {
        files.map { file in
            var form = members
            form.append((key: "file", value: .string(file)))
            return .object(form)  // keyed by its canonicalBytes(), which sort the members
        }
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
