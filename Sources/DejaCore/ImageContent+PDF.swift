extension ImageContent {
    /// A PDF keyed on what its pages draw (``PDFContent``), or on its bytes when the reader is not sure,
    /// never refused: a PDF past the ``PDFLimits`` is keyed on its bytes too, and the model server has its
    /// own page and size limits. The notes list every page's digest and what was left out.
    static func pdf(_ bytes: UnsafeBufferPointer<UInt8>, limits: ImageLimits) -> Outcome {
        let summary: PDFContent.Summary
        do throws(PDFFile.NotSure) {
            summary = try PDFContent.read(bytes, limits: PDFLimits(limits))
        } catch {
            return fallback(bytes, "PDF", error.reason)
        }
        let pages = summary.pages.count == 1 ? "1 page" : "\(summary.pages.count) pages"
        let revisions = summary.sections == 1 ? "1 cross-reference section" : "\(summary.sections) cross-reference sections"
        var notes = ["PDF, \(pages) (\(revisions)), keyed on what its pages draw"]
        for (index, digest) in summary.pages.enumerated() {
            let dropped = summary.droppedOnPages[index]
            let without = dropped.isEmpty ? "" : " without \(dropped.map(\.description).joined(separator: ", "))"
            notes.append("page \(index + 1): \(String(CacheKey(digest: digest).hex.prefix(16)))\(without)")
        }
        var ignored: [String] = []
        if !summary.droppedFromTrailer.isEmpty {
            ignored.append("trailer \(summary.droppedFromTrailer.map(\.description).joined(separator: ", "))")
        }
        if !summary.droppedFromCatalog.isEmpty {
            ignored.append("catalog \(summary.droppedFromCatalog.map(\.description).joined(separator: ", "))")
        }
        if !ignored.isEmpty { notes.append("ignored: \(ignored.joined(separator: "; "))") }
        if !summary.keptEncoded.isEmpty {
            let filters = summary.keptEncoded.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }
            notes.append("streams keyed on their encoded bytes: \(filters.joined(separator: ", "))")
        }
        return Outcome(digest: ContentDigest(kind: .pdfPages, digest: CacheKey(digest: summary.digest)), notes: notes)
    }
}
