/// A classic PDF file (header, numbered objects, cross-reference table, trailer) written from its
/// objects' source text, for tests that need a real PDF of a known shape.
enum TestPDF {
    /// `objects[i]` becomes object `i + 1`; object 1 is the catalog. `reversed` writes the objects in
    /// the opposite order (same document, other bytes and offsets); `trailer` adds trailer entries.
    static func file(objects: [String], trailer: String = "", reversed: Bool = false) -> [UInt8] {
        var out = "%PDF-1.7\n"
        var offsets = Array(repeating: 0, count: objects.count)
        for index in reversed ? Array(objects.indices.reversed()) : Array(objects.indices) {
            offsets[index] = out.utf8.count
            out += "\(index + 1) 0 obj\n\(objects[index])\nendobj\n"
        }
        let start = out.utf8.count
        out += "xref\n0 \(objects.count + 1)\n0000000000 65535 f\r\n"
        for offset in offsets { out += String(repeating: "0", count: 10 - String(offset).count) + "\(offset) 00000 n\r\n" }
        out += "trailer\n<< /Size \(objects.count + 1) /Root 1 0 R \(trailer) >>\nstartxref\n\(start)\n%%EOF\n"
        return Array(out.utf8)
    }
}
