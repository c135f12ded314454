import Crypto

/// The content digest of a PDF (`pdf-pages-sha256:`): what its pages draw, not how the file is laid out.
///
/// Each page is written as a structural serialisation — its dictionary with inherited attributes filled
/// in, without `/Parent` and the entries that never change a rendered page (``droppedPageEntries``) —
/// in which every indirect reference is replaced by the digest of what it points to, so object numbers,
/// cross-reference layout, object streams and incremental updates never matter. A reference back to an
/// object on the current path (an annotation's `/P`, a `/Popup` and its `/Parent`) is written as the
/// distance to that ancestor, a reference to another page as that page's index. Streams count by their
/// decoded bytes where every filter is decoded exactly (``PDFFilters``), otherwise by the bytes the
/// remaining filters would decode with those filters' names and parameters; `/Length` and the decoded
/// filters never count. The document digest is over the page count, the page digests in order and the
/// catalog without `/Pages` and the entries that never change a rendered page (``droppedCatalogEntries``).
/// The trailer counts only through `/Root`: `/Info` and `/ID` never count.
struct PDFContent {
    /// What reading a PDF gave, for the key and for `deja explain`.
    struct Summary {
        var digest: SHA256.Digest
        var pages: [SHA256.Digest]
        /// The catalog's digest (without the entries that never change a rendered page): with a page's
        /// digest, what that page renders as (``PDFPages/identities(_:limits:)``).
        var catalog: SHA256.Digest
        /// Per page, the entries left out of its digest.
        var droppedOnPages: [[PDFName]]
        var droppedFromCatalog: [PDFName]
        var droppedFromTrailer: [PDFName]
        /// Filters of streams keyed on their encoded bytes.
        var keptEncoded: [PDFName: Int]
        var sections: Int
    }

    /// Page entries that never change how a page renders: document structure, private application data,
    /// dates, thumbnails, article beads, and identifiers of the page in other systems.
    static let droppedPageEntries: Set<PDFName> = [
        "Parent", "Metadata", "PieceInfo", "LastModified", "StructParents", "Thumb", "B", "ID", "PZ",
    ]
    /// Catalog entries that never change how a page renders: navigation and viewer settings, metadata,
    /// the logical structure, the PDF version (what the header says too) and page labels.
    static let droppedCatalogEntries: Set<PDFName> = [
        "Pages", "Metadata", "Outlines", "PageLabels", "StructTreeRoot", "MarkInfo", "ViewerPreferences",
        "PageLayout", "PageMode", "Lang", "Threads", "Dests", "PieceInfo", "LastModified", "SpiderInfo", "Version",
    ]
    /// The stream entries that say how the data is stored, not what it holds.
    private static let storageEntries: Set<PDFName> = ["Length", "Filter", "DecodeParms", "DL"]

    private var file: PDFFile
    private var pageIndex: [Int: Int] = [:]
    /// Digests of objects whose serialisation does not depend on the path that reached them.
    private var memo: [Int: SHA256.Digest] = [:]
    private var path: [Int] = []
    private var work = 0
    private var nesting = 0
    private var keptEncoded: [PDFName: Int] = [:]

    private init(file: PDFFile) {
        self.file = file
    }

    /// Reads `bytes` and digests what its pages draw, or says why it is not sure.
    static func read(_ bytes: UnsafeBufferPointer<UInt8>, limits: PDFLimits) throws(PDFFile.NotSure) -> Summary {
        var content = PDFContent(file: try PDFFile(bytes, limits: limits))
        return try content.summarise()
    }

    /// The number of pages, reading only the cross-reference sections and the page tree.
    static func pageCount(_ bytes: UnsafeBufferPointer<UInt8>, limits: PDFLimits = PDFLimits()) throws(PDFFile.NotSure) -> Int {
        var file = try PDFFile(bytes, limits: limits)
        return try file.pages().count
    }

    private mutating func summarise() throws(PDFFile.NotSure) -> Summary {
        let pages = try file.pages()
        for (index, page) in pages.enumerated() { pageIndex[page.number] = index }
        var digests: [SHA256.Digest] = []
        var dropped: [[PDFName]] = []
        for page in pages {
            path = [page.number]
            let left = page.dictionary.entries.map(\.key).filter(Self.droppedPageEntries.contains).sorted()
            var entries = page.dictionary
            entries.entries.removeAll { Self.droppedPageEntries.contains($0.key) }
            var out: [UInt8] = []
            _ = try write(.dictionary(entries), into: &out)
            digests.append(SHA256.hash(data: out))
            dropped.append(left)
        }
        let (root, catalog) = try file.catalog()
        path = [root.number]
        var kept = catalog
        kept.entries.removeAll { Self.droppedCatalogEntries.contains($0.key) }
        var out: [UInt8] = []
        _ = try write(.dictionary(kept), into: &out)
        let catalogDigest = SHA256.hash(data: out)
        var fields: [[UInt8]] = [Array("pdf-pages".utf8), Array(String(pages.count).utf8)]
        fields += digests.map { Array($0) }
        fields.append(Array(catalogDigest))
        return Summary(
            digest: KeyEncoding.digest(fields: fields), pages: digests, catalog: catalogDigest, droppedOnPages: dropped,
            droppedFromCatalog: catalog.entries.map(\.key).filter { $0 != "Pages" && Self.droppedCatalogEntries.contains($0) }.sorted(),
            droppedFromTrailer: file.trailer.entries.map(\.key).filter { $0 != "Root" }.sorted(),
            keptEncoded: keptEncoded, sections: file.sections
        )
    }

    /// Writes `object` into `out`; returns the lowest path position a back-reference inside it reached
    /// (`Int.max` for none), which says whether its digest may be remembered.
    private mutating func write(_ object: PDFObject, into out: inout [UInt8]) throws(PDFFile.NotSure) -> Int {
        work += 1
        guard work <= file.limits.maxWork else { throw PDFFile.NotSure("its objects refer to each other more than \(file.limits.maxWork) times") }
        nesting += 1
        defer { nesting -= 1 }
        guard nesting <= file.limits.maxNesting else { throw PDFFile.NotSure("values nested deeper than \(file.limits.maxNesting) levels below a page") }
        switch object {
        case .null:
            out.append(UInt8(ascii: "z"))
        case .bool(let value):
            out.append(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .number(let number):
            Self.field(UInt8(ascii: "n"), number.text, into: &out)
        case .string(let bytes):
            Self.field(UInt8(ascii: "s"), bytes, into: &out)
        case .name(let name):
            Self.field(UInt8(ascii: "/"), name.bytes, into: &out)
        case .array(let elements):
            Self.field(UInt8(ascii: "["), [], count: elements.count, into: &out)
            var reach = Int.max
            for element in elements { reach = min(reach, try write(element, into: &out)) }
            return reach
        case .dictionary(let dictionary):
            return try write(dictionary, into: &out)
        case .stream(let dictionary, let range):
            return try writeStream(dictionary, range: range, into: &out)
        case .reference(let reference):
            return try write(reference, into: &out)
        }
        return Int.max
    }

    /// Entries sorted by key; an entry whose value resolves to `null` is no entry (§7.3.7).
    private mutating func write(_ dictionary: PDFDictionary, into out: inout [UInt8]) throws(PDFFile.NotSure) -> Int {
        var entries: [(key: PDFName, value: PDFObject)] = []
        for entry in dictionary.entries {
            if case .reference = entry.value, try file.resolve(entry.value) == .null { continue }
            entries.append(entry)
        }
        entries.sort { $0.key < $1.key }
        Self.field(UInt8(ascii: "<"), [], count: entries.count, into: &out)
        var reach = Int.max
        for entry in entries {
            Self.field(UInt8(ascii: "/"), entry.key.bytes, into: &out)
            reach = min(reach, try write(entry.value, into: &out))
        }
        return reach
    }

    private mutating func write(_ reference: PDFReference, into out: inout [UInt8]) throws(PDFFile.NotSure) -> Int {
        if let position = path.lastIndex(of: reference.number) {
            Self.field(UInt8(ascii: "b"), [], count: path.count - position, into: &out)
            return position
        }
        if let index = pageIndex[reference.number] {
            Self.field(UInt8(ascii: "p"), [], count: index, into: &out)
            return Int.max
        }
        if let known = memo[reference.number] {
            Self.field(UInt8(ascii: "r"), Array(known), into: &out)
            return Int.max
        }
        let target = try file.object(reference)
        if case .reference = target {
            // An indirect object whose value is a reference: what it points to.
            return try write(try file.resolve(target), into: &out)
        }
        let position = path.count
        path.append(reference.number)
        var inner: [UInt8] = []
        let reach = try write(target, into: &inner)
        path.removeLast()
        let digest = SHA256.hash(data: inner)
        if reach >= position { memo[reference.number] = digest }
        Self.field(UInt8(ascii: "r"), Array(digest), into: &out)
        return reach >= position ? Int.max : reach
    }

    private mutating func writeStream(_ dictionary: PDFDictionary, range: Range<Int>, into out: inout [UInt8]) throws(PDFFile.NotSure) -> Int {
        let decoded = try PDFFilters.decode(
            UnsafeBufferPointer(rebasing: file.bytes[range]), steps: try file.filterSteps(of: dictionary), budget: &file.budget)
        var kept = dictionary
        kept.entries.removeAll { Self.storageEntries.contains($0.key) }
        out.append(UInt8(ascii: "S"))
        var reach = try write(kept, into: &out)
        Self.field(UInt8(ascii: "F"), [], count: decoded.remaining.count, into: &out)
        for step in decoded.remaining {
            keptEncoded[step.name, default: 0] += 1
            Self.field(UInt8(ascii: "/"), step.name.bytes, into: &out)
            reach = min(reach, try write(step.parameters.map { PDFObject.dictionary($0) } ?? .null, into: &out))
        }
        Self.field(UInt8(ascii: "d"), Array(SHA256.hash(data: decoded.bytes)), into: &out)
        return reach
    }

    /// A tag byte, a count or length in 8 bytes big-endian, and `bytes`.
    private static func field(_ tag: UInt8, _ bytes: [UInt8], count: Int? = nil, into out: inout [UInt8]) {
        out.append(tag)
        let length = UInt64(count ?? bytes.count)
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        out.append(contentsOf: bytes)
    }
}

/// How many pages a PDF has, read from its page tree: what a budget reservation made before the model
/// call counts on.
public enum PDFPages {
    /// What the page tree says.
    public enum Count: Sendable, Equatable {
        /// The bytes do not start with `%PDF-`.
        case notPDF
        /// The page tree's leaves, at least one.
        case pages(Int)
        /// A PDF whose page tree is not read for certain (encrypted, broken, past the limits); the reason.
        case unknown(String)
    }

    /// The page count of `bytes`.
    public static func count(_ bytes: [UInt8]) -> Count {
        bytes.withUnsafeBufferPointer { buffer -> Count in
            guard PDFFile.isPDF(buffer) else { return .notPDF }
            do throws(PDFFile.NotSure) {
                let pages = try PDFContent.pageCount(buffer)
                return pages > 0 ? .pages(pages) : .unknown("a page tree without pages")
            } catch {
                return .unknown(error.reason)
            }
        }
    }

    /// What each page of `bytes` renders as, in page order: SHA-256 of `KeyEncoding.encode(["pdf-page",
    /// <page digest>, <catalog digest>])` (docs/canonical-form.md §5.7). Two pages, of one PDF or of two,
    /// with the same identity draw the same: the page digest covers everything on and below the page,
    /// the catalog digest what the document adds (forms, optional content, scripts). `nil` for anything
    /// the PDF reader is not sure of, and for what is not a PDF.
    public static func identities(_ bytes: [UInt8], limits: ImageLimits = ImageLimits()) -> [CacheKey]? {
        bytes.withUnsafeBufferPointer { buffer -> [CacheKey]? in
            guard PDFFile.isPDF(buffer) else { return nil }
            let summary: PDFContent.Summary
            do throws(PDFFile.NotSure) {
                summary = try PDFContent.read(buffer, limits: PDFLimits(limits))
            } catch {
                return nil
            }
            guard !summary.pages.isEmpty else { return nil }
            return summary.pages.map { page in
                CacheKey(digest: KeyEncoding.digest(fields: [Array("pdf-page".utf8), Array(page), Array(summary.catalog)]))
            }
        }
    }

    /// ``identities(_:limits:)`` of a file given as standard base64 (the forward body's spelling).
    public static func identities(base64 text: String, limits: ImageLimits = ImageLimits()) -> [CacheKey]? {
        var text = text
        let decoded = text.withUTF8 { Base64.decode($0) }
        guard case .success(let (bytes, _)) = decoded else { return nil }
        return identities(bytes, limits: limits)
    }

    /// The page count of a file given as standard or URL-safe base64 (white space and padding as the
    /// canonical form accepts them); ``Count/notPDF`` if it is not base64.
    public static func count(base64 text: String) -> Count {
        var text = text
        let decoded = text.withUTF8 { Base64.decode($0) }
        guard case .success(let (bytes, _)) = decoded else { return .notPDF }
        return count(bytes)
    }
}
