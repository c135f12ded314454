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
                                               limits: ImageLimits()))
        #expect(forms.count == 2)
        for form in forms {
            #expect(form["file"]?.stringValue?.hasPrefix("pdf-page-sha256:") == true)
            #expect(form["fileType"] == nil, "a page's form says nothing of the document's file type")
            #expect(form["visualize"] == .bool(false), "the options are part of a page's key")
        }
        #expect(forms[0] != forms[1])
        // The same pages in another document (other order, other object layout) have the same forms.
        let swapped = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["two", "one"], reversedObjects: true), extra: #","visualize":false"#),
                                          limits: ImageLimits()))
        #expect(swapped == [files(forms)[1], files(forms)[0]])
        let alone = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["two"])), limits: ImageLimits()))
        #expect(alone == [files(forms)[1]])
        // A changed page, or a catalog that can change how pages render, is another page.
        #expect(files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one", "tw0"])), limits: ImageLimits()))[1] != files(forms)[1])
        let form = files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one"], catalog: "/AcroForm << /NeedAppearances true >>")),
                                       limits: ImageLimits()))
        #expect(form.count == 1 && form[0] != files(forms)[0])
        // Metadata the catalog may drop changes nothing.
        #expect(files(ocr.pageForms(forwardBody: Self.forward(Self.pdf(["one"], catalog: "/Lang (de) /PageLabels << /Nums [0 << /S /r >>] >>")),
                                    limits: ImageLimits())) == [files(forms)[0]])
    }

    @Test func onlyPDFsTheReaderIsSureOfSentAsPDFsHavePages() {
        let twoPages = Self.pdf(["one", "two"])
        #expect(ocr.pageForms(forwardBody: Self.forward(twoPages, fileType: 1), limits: ImageLimits()) == nil)
        #expect(ocr.pageForms(forwardBody: Array(#"{"file":"iVBORw0KGgo=","fileType":0}"#.utf8), limits: ImageLimits()) == nil)
        #expect(ocr.pageForms(forwardBody: Self.forward(Array(twoPages.dropLast(40))), limits: ImageLimits()) == nil)
        let encrypted = Array(String(decoding: twoPages, as: UTF8.self)
            .replacingOccurrences(of: "/Root 1 0 R", with: "/Root 1 0 R /Encrypt << /Filter /Standard >>").utf8)
        #expect(ocr.pageForms(forwardBody: Self.forward(encrypted), limits: ImageLimits()) == nil)
        #expect(PaddleXSentiment().pageForms(forwardBody: Self.forward(twoPages), limits: ImageLimits()) == nil)
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
        let again = try #require(ocr.assemble(pages: pages))
        #expect(String(buffer: again.stored) == String(buffer: whole.stored), "numbers and escapes as the model wrote them")
        let reversed = try #require(ocr.assemble(pages: pages.reversed()))
        #expect(reversed.value["result"]?["dataInfo"]?["pages"]?[0]?["width"] == .number(JSONNumber(400)))
        #expect(ocr.measure(again, forwardBody: []) == ocr.measure(whole, forwardBody: []))
    }

    @Test func answersThatAreNotAPDFsAreNotCut() throws {
        let image = #"{"logId":"x","result":{"ocrResults":[{"prunedResult":{}}],"dataInfo":{"width":8,"height":6,"type":"image"}},"errorCode":0,"errorMsg":"Success"}"#
        #expect(ocr.pages(of: try answer(image)) == nil)
        let short = pdfAnswer.replacingOccurrences(of: #""numPages":2"#, with: #""numPages":3"#)
        #expect(ocr.pages(of: try answer(short)) == nil)
        let sizes = pdfAnswer.replacingOccurrences(of: #",{"width":400,"height":640}"#, with: "")
        #expect(ocr.pages(of: try answer(sizes)) == nil)
        #expect(ocr.assemble(pages: []) == nil)
        #expect(ocr.assemble(pages: [ByteBuffer(string: #"{"page":{}}"#)]) == nil)
    }
}
