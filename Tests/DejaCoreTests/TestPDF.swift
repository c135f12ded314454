import CompressNIO
import Foundation
import NIOCore

/// A PDF written by the tests: numbered objects whose text refers to others as `{n}` (written `n 0 R`
/// under the file's numbering), laid out with a classic table, a cross-reference stream or object streams,
/// optionally renumbered, reordered, compressed, or extended by an incremental update.
struct TestPDF {
    enum Body: Equatable {
        case object(String)
        /// A stream: dictionary entries (without `<<`, `>>` and `/Length`) and data.
        case stream(String, [UInt8])
        /// A stream whose `/Length` is the object `length` (which the test defines).
        case streamWithLengthObject(String, [UInt8], length: Int)
    }

    enum Layout {
        case table
        /// A cross-reference stream, Flate with a PNG Up predictor.
        case xrefStream
        /// Every non-stream object in one object stream, and a cross-reference stream.
        case objectStreams
    }

    var objects: [Int: Body]
    /// Extra trailer entries, e.g. `/Info {8} /ID [<01><02>]`.
    var trailer = ""
    var header = "%PDF-1.7"

    /// Two pages with text, a shared font and inherited media box and resources.
    static func twoPages(first: String = "Hello", second: String = "World") -> TestPDF {
        TestPDF(objects: [
            1: .object("<< /Type /Catalog /Pages {2} >>"),
            2: .object("<< /Type /Pages /Kids [{3} {4}] /Count 2 /MediaBox [0 0 200 200] /Resources << /Font << /F1 {5} >> >> >>"),
            3: .object("<< /Type /Page /Parent {2} /Contents {6} >>"),
            4: .object("<< /Type /Page /Parent {2} /Contents {7} >>"),
            5: .object("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
            6: .stream("", Array("BT /F1 24 Tf 20 100 Td (\(first)) Tj ET".utf8)),
            7: .stream("", Array("BT /F1 24 Tf 20 100 Td (\(second)) Tj ET".utf8)),
        ])
    }

    /// The file, objects numbered by `numbering` (identity by default) and written in `order`.
    func encode(
        layout: Layout = .table, compress: Bool = false, numbering: [Int: Int] = [:], order: [Int]? = nil
    ) -> [UInt8] {
        let number = { (old: Int) in numbering[old] ?? old }
        var out = Array((header + "\n%\u{E2}\u{E3}\u{CF}\u{D3}\n").utf8)
        var offsets: [Int: Int] = [:]
        var compressed: [Int: (stream: Int, index: Int)] = [:]
        let written = order ?? objects.keys.sorted()
        var size = (written.map(number).max() ?? 0) + 1
        var packed: [(Int, String)] = []
        for old in written {
            guard let body = objects[old] else { continue }
            if layout == .objectStreams, case .object(let text) = body {
                packed.append((number(old), resolve(text, number)))
                continue
            }
            offsets[number(old)] = out.count
            out += Self.indirect(number(old), body: body, compress: compress, numbering: number, pdf: self)
        }
        if !packed.isEmpty {
            let stream = size
            size += 1
            var header = ""
            var data = ""
            for (index, (objectNumber, text)) in packed.enumerated() {
                header += "\(objectNumber) \(data.utf8.count) "
                data += text + "\n"
                compressed[objectNumber] = (stream, index)
            }
            let first = header.utf8.count
            offsets[stream] = out.count
            out += Self.indirect(stream, body: .stream("/Type /ObjStm /N \(packed.count) /First \(first)", Array((header + data).utf8)),
                                 compress: true, numbering: number, pdf: self)
        }
        let trailerEntries = "/Size \(size + (layout == .table ? 0 : 1)) /Root \(number(1)) 0 R " + resolve(trailer, number)
        let start = out.count
        switch layout {
        case .table:
            out += Array("xref\n0 \(size)\n0000000000 65535 f\r\n".utf8)
            for objectNumber in 1..<size {
                let line = offsets[objectNumber].map { String(repeating: "0", count: 10 - String($0).count) + "\($0) 00000 n\r\n" }
                    ?? "0000000000 00000 f\r\n"
                out += Array(line.utf8)
            }
            out += Array("trailer\n<< \(trailerEntries) >>\n".utf8)
        case .xrefStream, .objectStreams:
            offsets[size] = start
            var rows: [UInt8] = []
            var previous = [UInt8](repeating: 0, count: 7)
            for objectNumber in 0...size {
                var row: [UInt8]
                if let offset = offsets[objectNumber] {
                    row = [1] + Self.bigEndian(offset, 4) + [0, 0]
                } else if let (stream, index) = compressed[objectNumber] {
                    row = [2] + Self.bigEndian(stream, 4) + Self.bigEndian(index, 2)
                } else {
                    row = [0, 0, 0, 0, 0, 0xFF, 0xFF]
                }
                rows.append(2)  // PNG Up
                rows += zip(row, previous).map { $0 &- $1 }
                previous = row
            }
            let dictionary = "/Type /XRef /W [1 4 2] \(trailerEntries) /DecodeParms << /Predictor 12 /Columns 7 >>"
            out += Self.indirect(size, body: .stream(dictionary, rows), compress: true, numbering: number, pdf: self)
        }
        out += Array("startxref\n\(start)\n%%EOF\n".utf8)
        return out
    }

    /// `base` with an incremental update that (re)defines `changes` in a classic table section.
    static func update(_ base: [UInt8], changes: [Int: Body], trailer: String = "", root: Int = 1) -> [UInt8] {
        var out = base
        let pdf = TestPDF(objects: changes)
        var offsets: [Int: Int] = [:]
        for (objectNumber, body) in changes.sorted(by: { $0.key < $1.key }) {
            offsets[objectNumber] = out.count
            out += indirect(objectNumber, body: body, compress: false, numbering: { $0 }, pdf: pdf)
        }
        let start = out.count
        out += Array("xref\n".utf8)
        for (objectNumber, offset) in offsets.sorted(by: { $0.key < $1.key }) {
            out += Array("\(objectNumber) 1\n\(String(repeating: "0", count: 10 - String(offset).count))\(offset) 00000 n\r\n".utf8)
        }
        let size = max(offsets.keys.max() ?? 0, 50) + 1
        out += Array("trailer\n<< /Size \(size) /Root \(root) 0 R /Prev \(lastStartxref(base)) \(trailer) >>\nstartxref\n\(start)\n%%EOF\n".utf8)
        return out
    }

    static func lastStartxref(_ bytes: [UInt8]) -> Int {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let range = text.range(of: "startxref", options: .backwards) else { return 0 }
        return Int(text[range.upperBound...].split(whereSeparator: \.isWhitespace).first ?? "") ?? 0
    }

    private func resolve(_ text: String, _ number: (Int) -> Int) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[..<open]
            result += "\(number(Int(rest[rest.index(after: open)..<close]) ?? 0)) 0 R"
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    private static func indirect(_ number: Int, body: Body, compress: Bool, numbering: (Int) -> Int, pdf: TestPDF) -> [UInt8] {
        switch body {
        case .object(let text):
            return Array("\(number) 0 obj\n\(pdf.resolve(text, numbering))\nendobj\n".utf8)
        case .stream(let entries, let data):
            let stored = compress ? deflate(data) : data
            let filter = compress ? " /Filter /FlateDecode" : ""
            return Array("\(number) 0 obj\n<< \(pdf.resolve(entries, numbering))\(filter) /Length \(stored.count) >>\nstream\n".utf8)
                + stored + Array("\nendstream\nendobj\n".utf8)
        case .streamWithLengthObject(let entries, let data, let length):
            return Array("\(number) 0 obj\n<< \(pdf.resolve(entries, numbering)) /Length \(numbering(length)) 0 R >>\nstream\n".utf8)
                + data + Array("\nendstream\nendobj\n".utf8)
        }
    }

    static func deflate(_ data: [UInt8], level: ZlibConfiguration.CompressionLevel = .compressionLevel6) -> [UInt8] {
        var input = ByteBufferAllocator().buffer(capacity: data.count)
        input.writeBytes(data)
        // swiftlint:disable:next force_try
        let compressed = try! input.compress(with: .zlib, configuration: ZlibConfiguration(compressionLevel: level))
        return Array(compressed.readableBytesView)
    }

    private static func bigEndian(_ value: Int, _ count: Int) -> [UInt8] {
        (0..<count).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
