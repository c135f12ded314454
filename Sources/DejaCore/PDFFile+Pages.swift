/// The document's catalog and page tree (ISO 32000-1 §7.7.2–7.7.3): the pages in order, with the
/// attributes they inherit from their ancestors filled in.
extension PDFFile {
    /// A leaf of the page tree: its object number and dictionary, with the inherited attributes it does
    /// not set itself filled in from its ancestors.
    struct Page {
        var number: Int
        var dictionary: PDFDictionary
    }

    static let inheritable: [PDFName] = ["Resources", "MediaBox", "CropBox", "Rotate"]

    /// The catalog (`/Root`).
    mutating func catalog() throws(NotSure) -> (reference: PDFReference, dictionary: PDFDictionary) {
        guard case .reference(let root) = trailer["Root"], case .dictionary(let catalog) = try object(root),
              catalog["Type"]?.nameValue == "Catalog"
        else { throw NotSure("no /Root catalog") }
        return (root, catalog)
    }

    /// The pages in order, inherited attributes filled in. A node that is neither `/Pages` nor `/Page`, a
    /// loop, a kid that is not a reference or a `/Count` that is not the number of leaves is ``NotSure``.
    mutating func pages() throws(NotSure) -> [Page] {
        guard case .reference(let root) = try catalog().dictionary["Pages"] else { throw NotSure("a catalog without a /Pages reference") }
        var pages: [Page] = []
        var visited: Set<Int> = []
        let expected = try collect(root, inherited: [:], depth: 0, visited: &visited, into: &pages)
        guard expected == pages.count else {
            throw NotSure("the page tree's /Count \(expected) is not its \(pages.count) pages")
        }
        return pages
    }

    private mutating func collect(
        _ reference: PDFReference, inherited: [PDFName: PDFObject], depth: Int, visited: inout Set<Int>, into pages: inout [Page]
    ) throws(NotSure) -> Int {
        guard depth <= limits.maxDepth else { throw NotSure("a page tree deeper than \(limits.maxDepth) levels") }
        guard visited.insert(reference.number).inserted else { throw NotSure("a page tree with a loop") }
        guard case .dictionary(var node) = try object(reference) else { throw NotSure("a page tree node that is not a dictionary") }
        var inherited = inherited
        for name in Self.inheritable {
            if let value = node[name] { inherited[name] = value }
        }
        switch node["Type"]?.nameValue {
        case "Page":
            guard pages.count < limits.maxPages else { throw NotSure("more than \(limits.maxPages) pages") }
            for name in Self.inheritable where node[name] == nil {
                if let value = inherited[name] { node.entries.append((name, value)) }
            }
            pages.append(Page(number: reference.number, dictionary: node))
            return 1
        case "Pages":
            guard case .array(let kids) = try resolve(node["Kids"] ?? .null) else { throw NotSure("a /Pages node without /Kids") }
            var leaves = 0
            for kid in kids {
                guard case .reference(let child) = kid else { throw NotSure("a /Kids entry that is not a reference") }
                leaves += try collect(child, inherited: inherited, depth: depth + 1, visited: &visited, into: &pages)
            }
            guard let count = try resolve(node["Count"] ?? .null).integer, count == leaves else {
                throw NotSure("a /Pages node whose /Count is not its \(leaves) pages")
            }
            return count
        default:
            throw NotSure("a page tree node that is neither /Pages nor /Page")
        }
    }
}
