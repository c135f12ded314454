import DejaCore
import DejaGateway
import Foundation
import NIOCore
import Testing

/// The page memo's protocol half for PaddleX OCR: a PDF request's page keys, and an answer cut into
/// pages and put back together.
@Suite struct PaddleXPagesTests {
    let ocr = PaddleXOCR()

    /// A PDF whose pages draw `texts`, one page each; `catalog` adds catalog entries, `reversedObjects`
    /// writes the same document's objects in the opposite order.
    static func pdf(_ texts: [String], catalog: String = "", reversedObjects: Bool = false) -> [UInt8] {
        let count = texts.count
        var objects = ["<< /Type /Catalog /Pages 2 0 R \(catalog) >>",
                       "<< /Type /Pages /Kids [\((0..<count).map { "\($0 + 3) 0 R" }.joined(separator: " "))] /Count \(count) >>"]
        for index in 0..<count {
            objects.append("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents \(3 + count + index) 0 R >>")
        }
        for text in texts {
            let data = "BT /F1 12 Tf 10 50 Td (\(text)) Tj ET"
            objects.append("<< /Length \(data.utf8.count) >>\nstream\n\(data)\nendstream")
        }
        return TestPDF.file(objects: objects, reversed: reversedObjects)
    }

    static func forward(_ file: [UInt8], fileType: Int = 0, extra: String = "") -> [UInt8] {
        Array(#"{"file":""#.utf8) + Array(Data(file).base64EncodedString().utf8) + Array(#"","fileType":\#(fileType)\#(extra)}"#.utf8)
    }

    func files(_ forms: [JSONValue]?) -> [String] {
        (forms ?? []).map { $0["file"]?.stringValue ?? "-" }
    }

    @Test func aPDFHasOnePageFormPerPageKeyedOnWhatThePageDraws() throws {
        let forms = try #require(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one", "two"]), extra: #","visualize":false"#),
                                               limits: ImageLimits(), images: true))
        #expect(forms.count == 2)
        for form in forms {
            #expect(form["file"]?.stringValue?.hasPrefix("pdf-page-sha256:") == true)
            #expect(form["fileType"] == nil, "a page's form says nothing of the document's file type")
            #expect(form["visualize"] == .bool(false), "the options are part of a page's key")
        }
        #expect(forms[0] != forms[1])
        // The same pages in another document (other order, other object layout) have the same forms.
        let swapped = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["two", "one"], reversedObjects: true), extra: #","visualize":false"#),
                                          limits: ImageLimits(), images: true))
        #expect(swapped == [files(forms)[1], files(forms)[0]])
        let alone = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["two"])), limits: ImageLimits(), images: true))
        #expect(alone == [files(forms)[1]])
        // A changed page, or a catalog that can change how pages render, is another page.
        #expect(files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one", "tw0"])), limits: ImageLimits(), images: true))[1] != files(forms)[1])
        let form = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one"], catalog: "/AcroForm << /NeedAppearances true >>")),
                                       limits: ImageLimits(), images: true))
        #expect(form.count == 1 && form[0] != files(forms)[0])
        // Metadata the catalog may drop changes nothing.
        #expect(files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one"], catalog: "/Lang (de) /PageLabels << /Nums [0 << /S /r >>] >>")),
                                    limits: ImageLimits(), images: true)) == [files(forms)[0]])
    }

    @Test func onlyPDFsTheReaderIsSureOfSentAsPDFsHavePages() {
        let twoPages = Self.pdf(["one", "two"])
        #expect(ocr.pageForms(forwardBody: Self.forward(twoPages, fileType: 1), limits: ImageLimits(), images: true) == nil)
        #expect(ocr.pageForms(forwardBody: Array(#"{"file":"iVBORw0KGgo=","fileType":0}"#.utf8), limits: ImageLimits(), images: true) == nil)
        #expect(ocr.pageForms(forwardBody: Self.forward(Array(twoPages.dropLast(40))), limits: ImageLimits(), images: true) == nil)
        let encrypted = Array(String(decoding: twoPages, as: UTF8.self)
            .replacingOccurrences(of: "/Root 1 0 R", with: "/Root 1 0 R /Encrypt << /Filter /Standard >>").utf8)
        #expect(ocr.pageForms(forwardBody: Self.forward(encrypted), limits: ImageLimits(), images: true) == nil)
        #expect(PaddleXSentiment().pageForms(forwardBody: Self.forward(twoPages), limits: ImageLimits(), images: true) == nil)
    }

    let pdfAnswer = #"{"logId":"x","result":{"ocrResults":[{"prunedResult":{"rec_texts":["一"],"rec_scores":[0.9876543210123]}},{"prunedResult":{"rec_texts":["two"],"rec_scores":[1e-05]}}],"dataInfo":{"numPages":2,"pages":[{"width":800,"height":640},{"width":400,"height":640}],"type":"pdf"}},"errorCode":0,"errorMsg":"Success"}"#

    func answer(_ body: String) throws -> ModelAnswer {
        guard case .answer(let answer) = ocr.read(status: 200, body: ByteBuffer(string: body)) else {
            Issue.record("not an answer: \(body)")
            throw CancellationError()
        }
        return answer
    }

    @Test func aPDFAnswerIsCutIntoPagesAndPutBackByteForByte() throws {
        let whole = try answer(pdfAnswer)
        let pages = try #require(ocr.pages(of: whole))
        #expect(pages.map { String(buffer: $0) } == [
            #"{"page":{"width":800,"height":640},"ocrResult":{"prunedResult":{"rec_texts":["一"],"rec_scores":[0.9876543210123]}}}"#,
            #"{"page":{"width":400,"height":640},"ocrResult":{"prunedResult":{"rec_texts":["two"],"rec_scores":[1e-05]}}}"#,
        ])
        let pdf = Self.forward(Self.pdf(["one", "two"]))
        let again = try #require(ocr.assemble(pages: pages, forwardBody: pdf))
        #expect(String(buffer: again.stored) == String(buffer: whole.stored), "numbers and escapes as the model wrote them")
        let reversed = try #require(ocr.assemble(pages: pages.reversed(), forwardBody: pdf))
        #expect(reversed.value["result"]?["dataInfo"]?["pages"]?[0]?["width"] == .number(JSONNumber(400)))
        #expect(ocr.measure(again, forwardBody: []) == ocr.measure(whole, forwardBody: []))
    }

    let imageAnswer = #"{"logId":"x","result":{"ocrResults":[{"prunedResult":{"rec_texts":["two"],"rec_scores":[1e-05]}}],"dataInfo":{"width":400,"height":640,"type":"image"}},"errorCode":0,"errorMsg":"Success"}"#

    @Test func anImageIsAPageOfOneAndAPageIsTheSameInAPDFOrAsAnImage() throws {
        let image = try answer(imageAnswer)
        let pages = try #require(ocr.pages(of: image))
        let fromPDF = try #require(ocr.pages(of: try answer(pdfAnswer)))
        #expect(pages.map { String(buffer: $0) } == [String(buffer: fromPDF[1])])
        let png = Array(#"{"file":"iVBORw0KGgo=","fileType":1}"#.utf8)
        let again = try #require(ocr.assemble(pages: pages, forwardBody: png))
        #expect(String(buffer: again.stored) == String(buffer: image.stored))
        // The PDF's second page answers an image of it, and the image's answer a PDF of that page.
        #expect(String(buffer: try #require(ocr.assemble(pages: [fromPDF[1]], forwardBody: png)).stored) == String(buffer: image.stored))
        let pdf = try #require(ocr.assemble(pages: [fromPDF[0]] + pages, forwardBody: Self.forward(Self.pdf(["one", "two"]))))
        #expect(String(buffer: pdf.stored) == String(buffer: try answer(pdfAnswer).stored))
        #expect(ocr.assemble(pages: fromPDF, forwardBody: png) == nil, "an image is one page")
    }

    @Test func aPDFsPixelFormsAreWhatTheServerSaysAndMatchAnImagesForm() throws {
        let pdf = Self.forward(Self.pdf(["one", "two"]), extra: #","visualize":false"#)
        let request = try #require(ocr.pixelsRequest(forwardBody: pdf))
        #expect(request.path == "/deja/page-pixels")
        #expect(try JSONValue(parsing: request.body)["file"] == (try JSONValue(parsing: pdf))["file"])
        #expect(ocr.pixelsRequest(forwardBody: Array(#"{"file":"iVBORw0KGgo=","fileType":1}"#.utf8)) == nil)
        let one = String(repeating: "ab", count: 32), two = String(repeating: "0c", count: 32)
        let reply = Array(#"{"logId":"y","errorCode":0,"errorMsg":"Success","result":{"pages":["\#(one)","\#(two)"]}}"#.utf8)
        let forms = try #require(ocr.pixelForms(reply: reply, forwardBody: pdf))
        #expect(files(forms) == ["page-rgb8-sha256:" + one, "page-rgb8-sha256:" + two])
        #expect(forms[0]["fileType"] == nil && forms[0]["visualize"] == .bool(false))
        for bad in [#"{"errorCode":0,"result":{"pages":["abc"]}}"#, #"{"errorCode":0,"result":{"pages":[]}}"#,
                    #"{"errorCode":500,"result":{"pages":["\#(one)"]}}"#, "not json",
                    #"{"errorCode":0,"result":{"pages":["\#(one.uppercased())"]}}"#] {
            #expect(ocr.pixelForms(reply: Array(bad.utf8), forwardBody: pdf) == nil, "\(bad)")
        }
    }

    @Test func answersThatAreNeitherAPDFsNorAnImagesAreNotCut() throws {
        let twoImages = imageAnswer.replacingOccurrences(of: #"[{"prunedResult""#, with: #"[{"prunedResult":{}},{"prunedResult""#)
        #expect(ocr.pages(of: try answer(twoImages)) == nil)
        let short = pdfAnswer.replacingOccurrences(of: #""numPages":2"#, with: #""numPages":3"#)
        #expect(ocr.pages(of: try answer(short)) == nil)
        let sizes = pdfAnswer.replacingOccurrences(of: #",{"width":400,"height":640}"#, with: "")
        #expect(ocr.pages(of: try answer(sizes)) == nil)
        let other = pdfAnswer.replacingOccurrences(of: #""type":"pdf""#, with: #""type":"tiff""#)
        #expect(ocr.pages(of: try answer(other)) == nil)
        #expect(ocr.assemble(pages: [], forwardBody: []) == nil)
        #expect(ocr.assemble(pages: [ByteBuffer(string: #"{"page":{}}"#)], forwardBody: []) == nil)
    }
}
