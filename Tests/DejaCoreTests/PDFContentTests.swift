import Foundation
import Testing

@testable import DejaCore

/// The PDF reader and the PDF content digest: every layout and metadata change shares a key, every page
/// change does not, and whatever the reader is not sure of falls back to the bytes.
@Suite struct PDFContentTests {
    typealias Body = TestPDF.Body

    static func read(_ bytes: [UInt8], limits: PDFLimits = PDFLimits()) -> Result<PDFContent.Summary, PDFFile.NotSure> {
        bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(PDFFile.NotSure) in try PDFContent.read(buffer, limits: limits) }
        }
    }

    /// The reason the reader is not sure, or `nil` if it read the file.
    static func reason(_ bytes: [UInt8], limits: PDFLimits = PDFLimits()) -> String? {
        if case .failure(let notSure) = read(bytes, limits: limits) { notSure.reason } else { nil }
    }

    @Test func readsAClassicTableToItsPages() throws {
        let summary = try Self.read(TestPDF.twoPages().encode()).get()
        #expect(summary.pages.count == 2)
        #expect(summary.pages[0] != summary.pages[1])
        #expect(summary.sections == 1)
        #expect(summary.droppedOnPages == [["Parent"], ["Parent"]])
        let digest = try fileDigest(TestPDF.twoPages().encode())
        #expect(digest.hasPrefix("pdf-pages-sha256:"))
        #expect(PDFPages.count(TestPDF.twoPages().encode()) == .pages(2))
        #expect(PDFPages.count(Array("GIF89a".utf8)) == .notPDF)
    }

    @Test func layoutNumberingAndCompressionShareAKey() throws {
        let pdf = TestPDF.twoPages()
        let base = try fileDigest(pdf.encode())
        var withMetadata = pdf
        withMetadata.objects[8] = .object("<< /Producer (other) /CreationDate (D:20260101) >>")
        withMetadata.trailer = "/Info {8} /ID [<0102> <0304>]"
        withMetadata.header = "%PDF-1.4"
        let variants: [(String, [UInt8])] = [
            ("xref stream", pdf.encode(layout: .xrefStream)),
            ("object streams", pdf.encode(layout: .objectStreams)),
            ("compressed streams", pdf.encode(compress: true)),
            ("object streams, compressed", pdf.encode(layout: .objectStreams, compress: true)),
            ("renumbered", pdf.encode(numbering: [1: 11, 2: 7, 3: 5, 4: 9, 5: 2, 6: 3, 7: 4])),
            ("reordered", pdf.encode(order: [7, 6, 5, 4, 3, 2, 1])),
            ("info, id, version", withMetadata.encode()),
        ]
        for (name, bytes) in variants {
            #expect(try fileDigest(bytes) == base, "\(name)")
        }
    }

    @Test func metadataOnPagesAndCatalogDoesNotCount() throws {
        let base = try fileDigest(TestPDF.twoPages().encode())
        var pdf = TestPDF.twoPages()
        pdf.objects[1] = .object("<< /Type /Catalog /Pages {2} /Metadata {9} /PageLabels << /Nums [0 << /S /r >>] >> /Lang (de) /Version /PDF-2.0 >>")
        pdf.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /Metadata {9} /PieceInfo << /App << /Private 1 >> >> /LastModified (D:2026) >>")
        pdf.objects[9] = .stream("/Type /Metadata /Subtype /XML", Array("<x:xmpmeta/>".utf8))
        #expect(try fileDigest(pdf.encode()) == base)
        let summary = try Self.read(pdf.encode()).get()
        #expect(summary.droppedOnPages[0] == ["LastModified", "Metadata", "Parent", "PieceInfo"])
        #expect(summary.droppedFromCatalog == ["Lang", "Metadata", "PageLabels", "Version"])
    }

    @Test func everyPageChangeChangesTheKey() throws {
        let pdf = TestPDF.twoPages()
        func changed(_ number: Int, _ body: Body) -> TestPDF {
            var copy = pdf
            copy.objects[number] = body
            return copy
        }
        let inheritedPagesNode = "<< /Type /Pages /Kids [{3} {4}] /Count 2 /Resources << /Font << /F1 {5} >> >>"
        let variants: [(String, TestPDF)] = [
            ("content byte", TestPDF.twoPages(first: "Hellp")),
            ("second page", TestPDF.twoPages(second: "Word")),
            ("font", changed(5, .object("<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>"))),
            ("resource", changed(2, .object("<< /Type /Pages /Kids [{3} {4}] /Count 2 /MediaBox [0 0 200 200] /Resources << /Font << /F1 {5} >> /ExtGState << /G << /CA 0.5 >> >> >> >>"))),
            ("page order", changed(2, .object("<< /Type /Pages /Kids [{4} {3}] /Count 2 /MediaBox [0 0 200 200] /Resources << /Font << /F1 {5} >> >> >>"))),
            ("media box", changed(2, .object(inheritedPagesNode + " /MediaBox [0 0 200 201] >>"))),
            ("rotate", changed(3, .object("<< /Type /Page /Parent {2} /Contents {6} /Rotate 90 >>"))),
            ("crop box", changed(3, .object("<< /Type /Page /Parent {2} /Contents {6} /CropBox [0 0 100 100] >>"))),
            ("annotation", changed(3, .object("<< /Type /Page /Parent {2} /Contents {6} /Annots [<< /Type /Annot /Subtype /Square /Rect [0 0 9 9] >>] >>"))),
            ("acroform", changed(1, .object("<< /Type /Catalog /Pages {2} /AcroForm << /NeedAppearances true >> >>"))),
        ]
        var seen = [try fileDigest(pdf.encode()): "base"]
        for (name, variant) in variants {
            let digest = try fileDigest(variant.encode())
            #expect(digest.hasPrefix("pdf-pages-sha256:"), "\(name)")
            #expect(seen[digest] == nil, "\(name) shares a key with \(seen[digest] ?? "")")
            seen[digest] = name
        }
    }

    @Test func inheritedAttributesCountWhereverTheyAreSet() throws {
        var onPages = TestPDF.twoPages()
        onPages.objects[2] = .object("<< /Type /Pages /Kids [{3} {4}] /Count 2 >>")
        onPages.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /MediaBox [0 0 200 200] /Resources << /Font << /F1 {5} >> >> >>")
        onPages.objects[4] = .object("<< /Type /Page /Parent {2} /Contents {7} /MediaBox [0 0 200 200.0] /Resources << /Font << /F1 {5} >> >> >>")
        #expect(try fileDigest(onPages.encode()) == fileDigest(TestPDF.twoPages().encode()))
        // Only /Resources, /MediaBox, /CropBox and /Rotate are inherited: anything else on a /Pages node
        // reaches no page.
        var notInherited = TestPDF.twoPages()
        notInherited.objects[2] = .object("<< /Type /Pages /Kids [{3} {4}] /Count 2 /MediaBox [0 0 200 200] /Resources << /Font << /F1 {5} >> >> /UserUnit 2 >>")
        #expect(try fileDigest(notInherited.encode()) == fileDigest(TestPDF.twoPages().encode()))
    }

    @Test func stringAndNumberSpellingsDoNotCount() throws {
        var pdf = TestPDF.twoPages()
        pdf.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /Annots [<< /Subtype /Text /Rect [0 0 1.50 +2] /Contents (A\\101) >>] >>")
        var spelled = pdf
        spelled.objects[3] = .object("<</Type/Page/Parent {2}/Contents {6}/Annots[<</Subtype/Te#78t/Rect[0.0 -0 1.5 2.]/Contents<4141>>>]>>")
        #expect(try fileDigest(pdf.encode()) == fileDigest(spelled.encode()))
    }

    @Test func incrementalUpdatesThatChangeNoPageShareAKey() throws {
        let original = TestPDF.twoPages().encode()
        let base = try fileDigest(original)
        let info = TestPDF.update(original, changes: [40: .object("<< /Producer (editor) >>")], trailer: "/Info 40 0 R /ID [<aa> <bb>]")
        #expect(try fileDigest(info) == base)
        let respelled = TestPDF.update(original, changes: [5: .object("<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>")])
        #expect(try fileDigest(respelled) == base)
        #expect(try Self.read(respelled).get().sections == 2)
    }

    @Test func theLaterDefinitionWins() throws {
        let original = TestPDF.twoPages().encode()
        let edited = TestPDF.update(original, changes: [6: .stream("", Array("BT /F1 24 Tf 20 100 Td (Other) Tj ET".utf8))])
        #expect(try fileDigest(edited) != fileDigest(original))
        #expect(try fileDigest(edited) == fileDigest(TestPDF.twoPages(first: "Other").encode()))
        let twice = TestPDF.update(edited, changes: [6: .stream("", Array("BT /F1 24 Tf 20 100 Td (Hello) Tj ET".utf8))])
        #expect(try fileDigest(twice) == fileDigest(original))
    }

    @Test func anIndirectLengthIsFollowedAndNeverCounts() throws {
        let text = Array("BT /F1 24 Tf 20 100 Td (Hello) Tj ET".utf8)
        var pdf = TestPDF.twoPages()
        pdf.objects[6] = .streamWithLengthObject("", text, length: 20)
        pdf.objects[20] = .object("\(text.count)")
        #expect(try fileDigest(pdf.encode()) == fileDigest(TestPDF.twoPages().encode()))
        #expect(try fileDigest(pdf.encode(layout: .objectStreams)) == fileDigest(TestPDF.twoPages().encode()))
        pdf.objects[20] = .object("\(text.count + 5)")
        #expect(Self.reason(pdf.encode())?.contains("expected 'endstream'") == true)
        pdf.objects[20] = .object("(not a number)")
        #expect(Self.reason(pdf.encode())?.contains("/Length") == true)
        pdf.objects[6] = .streamWithLengthObject("", text, length: 6)
        #expect(Self.reason(pdf.encode())?.contains("refers to itself") == true)
    }

    @Test func aLaterTableOverAnXRefStreamIsRead() throws {
        let original = TestPDF.twoPages().encode(layout: .objectStreams, compress: true)
        let info = TestPDF.update(original, changes: [40: .object("<< /Producer (editor) >>")], trailer: "/Info 40 0 R")
        #expect(try fileDigest(info) == fileDigest(original))
        let edited = TestPDF.update(original, changes: [5: .object("<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")])
        #expect(try fileDigest(edited) != fileDigest(original))
        #expect(try Self.read(edited).get().sections == 2)
    }

    @Test func cyclesAreBackReferencesNotObjectNumbers() throws {
        var pdf = TestPDF.twoPages()
        pdf.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /Annots [{8} {9}] >>")
        pdf.objects[8] = .object("<< /Type /Annot /Subtype /Text /Rect [0 0 9 9] /P {3} /Popup {9} /Contents (note) >>")
        pdf.objects[9] = .object("<< /Type /Annot /Subtype /Popup /Rect [0 0 50 50] /P {3} /Parent {8} >>")
        pdf.objects[1] = .object("<< /Type /Catalog /Pages {2} /AcroForm << /Fields [{8}] >> >>")
        let base = try fileDigest(pdf.encode())
        #expect(base.hasPrefix("pdf-pages-sha256:"))
        #expect(try fileDigest(pdf.encode(layout: .objectStreams, numbering: [8: 30, 9: 20, 3: 10])) == base)
        var other = pdf
        other.objects[9] = .object("<< /Type /Annot /Subtype /Popup /Rect [0 0 50 51] /P {3} /Parent {8} >>")
        #expect(try fileDigest(other.encode()) != base)
    }

    @Test func streamsCountByDecodedBytesWhereEveryFilterIsDecoded() throws {
        let text = Array("BT /F1 24 Tf 20 100 Td (Hello) Tj ET".utf8)
        let base = try fileDigest(TestPDF.twoPages().encode())
        let hex = text.map { String($0, radix: 16) }.joined(separator: " ") + ">"
        let encodings: [(String, Body)] = [
            ("ASCIIHex", .stream("/Filter /ASCIIHexDecode", Array(hex.utf8))),
            ("ASCII85", .stream("/Filter /ASCII85Decode", Array(Self.ascii85(text).utf8))),
            ("RunLength", .stream("/Filter /RunLengthDecode", [UInt8(text.count - 1)] + text + [128])),
            ("Flate then ASCIIHex", .stream("/Filter [/ASCIIHexDecode /FlateDecode]",
                                            Array((TestPDF.deflate(text).map { String(format: "%02x", $0) }.joined() + ">").utf8))),
            ("Flate level 9", .stream("/Filter /FlateDecode", TestPDF.deflate(text, level: .bestCompression))),
        ]
        for (name, body) in encodings {
            var pdf = TestPDF.twoPages()
            pdf.objects[6] = body
            #expect(try fileDigest(pdf.encode()) == base, "\(name)")
        }
        // Filters not decoded here count by their encoded bytes, names and parameters.
        var lzw = TestPDF.twoPages()
        lzw.objects[6] = .stream("/Filter /LZWDecode", [0x80, 0x0B, 0x60, 0x50])
        var otherBytes = lzw
        otherBytes.objects[6] = .stream("/Filter /LZWDecode", [0x80, 0x0B, 0x60, 0x51])
        var otherParameters = lzw
        otherParameters.objects[6] = .stream("/Filter /LZWDecode /DecodeParms << /EarlyChange 0 >>", [0x80, 0x0B, 0x60, 0x50])
        let keys = try [lzw, otherBytes, otherParameters].map { try fileDigest($0.encode()) }
        #expect(Set(keys).count == 3)
        #expect(try Self.read(lzw.encode()).get().keptEncoded == ["LZWDecode": 1])
    }

    @Test func brokenFilesFallBackToTheirBytes() throws {
        let good = TestPDF.twoPages().encode()
        var loop = TestPDF.twoPages()
        loop.objects[3] = .object("<< /Type /Pages /Parent {2} /Kids [{2}] /Count 1 >>")
        var count = TestPDF.twoPages()
        count.objects[2] = .object("<< /Type /Pages /Kids [{3} {4}] /Count 3 /MediaBox [0 0 200 200] >>")
        var encrypted = TestPDF.twoPages()
        encrypted.objects[8] = .object("<< /Filter /Standard /V 1 /R 2 >>")
        encrypted.trailer = "/Encrypt {8}"
        var badZlib = TestPDF.twoPages()
        badZlib.objects[6] = .stream("/Filter /FlateDecode", [0x78, 0x9C, 0xFF, 0xFF, 0xFF])
        let startxref = TestPDF.lastStartxref(good)
        let cases: [(String, [UInt8], String)] = [
            ("truncated", Array(good.prefix(good.count / 2)), "startxref"),
            ("startxref off", Array(good.dropLast(String(startxref).count + 7)) + Array("\(startxref + 3)\n%%EOF\n".utf8), "cross-reference"),
            ("object moved", Array(good.prefix(19)) + Array("9 ".utf8) + Array(good.dropFirst(19)), "obj"),
            ("page tree loop", loop.encode(), "loop"),
            ("count", count.encode(), "/Count"),
            ("encrypted", encrypted.encode(), "encrypted"),
            ("bad zlib", badZlib.encode(), "zlib"),
        ]
        for (name, bytes, reason) in cases {
            let notSure = try #require(Self.reason(bytes), "\(name)")
            #expect(notSure.contains(reason), "\(name): \(notSure)")
            let request = try canonicalizeFile(bytes)
            #expect(request.canonicalForm["file"]?.stringValue == plainDigest(bytes), "\(name)")
            #expect(request.notes.contains { $0.contains("looks like a PDF but") }, "\(name)")
        }
        #expect(PDFPages.count(encrypted.encode()) == .unknown("it is encrypted"))
    }

    @Test func limitsMakeTheReaderNotSureNeverRefuse() throws {
        var deep = TestPDF.twoPages()
        deep.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /X " + String(repeating: "[", count: 80) + String(repeating: "]", count: 80) + " >>")
        #expect(Self.reason(deep.encode())?.contains("nested deeper") == true)
        var small = PDFLimits()
        small.maxDecodedBytes = 20
        #expect(Self.reason(TestPDF.twoPages().encode(compress: true), limits: small)?.contains("decoded-bytes limit") == true)
        // Objects that each refer twice to the next and back to their page: nothing can be remembered, so
        // the work doubles with every level until the limit.
        var bomb = TestPDF.twoPages()
        bomb.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /X {10} >>")
        for level in 10..<40 {
            bomb.objects[level] = .object("[{\(level + 1)} {\(level + 1)} {3}]")
        }
        bomb.objects[40] = .object("(end)")
        var lessWork = PDFLimits()
        lessWork.maxWork = 20_000
        #expect(Self.reason(bomb.encode(), limits: lessWork)?.contains("refer to each other more than 20000 times") == true)
        var fewPages = PDFLimits()
        fewPages.maxPages = 1
        #expect(Self.reason(TestPDF.twoPages().encode(), limits: fewPages)?.contains("more than 1 pages") == true)
    }

    @Test func sharedObjectsAreDigestedOnce() throws {
        // The same chain without the reference back to the page is remembered level by level: linear.
        var shared = TestPDF.twoPages()
        shared.objects[3] = .object("<< /Type /Page /Parent {2} /Contents {6} /X {10} >>")
        for level in 10..<60 {
            shared.objects[level] = .object("[{\(level + 1)} {\(level + 1)}]")
        }
        shared.objects[60] = .object("(end)")
        #expect(try fileDigest(shared.encode()).hasPrefix("pdf-pages-sha256:"))
    }

    @Test func fileTypeKeepsAPDFAndAnImageRequestApart() throws {
        let pdf = TestPDF.twoPages().encode()
        let base64 = pdf.base64
        let asPDF = try Canonicalizer().canonicalize(body: utf8(#"{"file":""# + base64 + #"","fileType":0}"#), policy: imagePolicy, scope: nil)
        let asImage = try Canonicalizer().canonicalize(body: utf8(#"{"file":""# + base64 + #"","fileType":1}"#), policy: imagePolicy, scope: nil)
        #expect(asPDF.canonicalForm["file"] == asImage.canonicalForm["file"])
        #expect(asPDF.key != asImage.key)
    }

    static func ascii85(_ bytes: [UInt8]) -> String {
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 4, bytes.count)])
            let padded = chunk + [UInt8](repeating: 0, count: 4 - chunk.count)
            var value = padded.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            var digits: [Character] = []
            for _ in 0..<5 {
                digits.append(Character(UnicodeScalar(UInt8(value % 85) + 33)))
                value /= 85
            }
            out += String(digits.reversed().prefix(chunk.count + 1))
            index += 4
        }
        return out + "~>"
    }
}

extension Array where Element == UInt8 {
    var base64: String { Data(self).base64EncodedString() }
}
