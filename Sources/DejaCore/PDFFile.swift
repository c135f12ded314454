/// A PDF's object structure (ISO 32000-1 §7.5): the cross-reference sections from `startxref` back
/// through `/Prev` (classic tables, cross-reference streams with their predictors, hybrid `/XRefStm`),
/// objects in the file and in object streams, and the page tree with its inherited attributes.
///
/// Incremental updates are read as a reader applies them: the newest section defining an object wins.
/// Nothing is recovered: a broken offset, a missing keyword, an encrypted file, a page tree whose
/// `/Count` disagrees with its leaves, any limit passed is ``NotSure`` — never a guess made by scanning
/// for `obj`. The bytes must outlive the value (it holds the caller's buffer).
struct PDFFile {
    /// The reader is not sure how every reader would read the file; the reason is for `deja explain`.
    struct NotSure: Error, Equatable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    enum Entry: Equatable {
        case free
        case offset(Int, generation: Int)
        case compressed(stream: Int, index: Int)
    }

    let bytes: UnsafeBufferPointer<UInt8>
    let limits: PDFLimits
    private(set) var entries: [Int: Entry] = [:]
    /// The newest trailer (of a cross-reference stream: its dictionary).
    private(set) var trailer = PDFDictionary()
    /// Cross-reference sections read (one per revision, plus hybrid streams).
    private(set) var sections = 0
    /// Decoded bytes still allowed.
    var budget: Int
    private var loaded: [Int: PDFObject] = [:]
    private var loading: Set<Int> = []
    private var objectStreams: [Int: [(number: Int, object: PDFObject)]] = [:]

    /// Whether `bytes` start with `%PDF-`.
    static func isPDF(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.starts(with: "%PDF-".utf8)
    }

    /// Reads the cross-reference sections; objects are read when asked for.
    init(_ bytes: UnsafeBufferPointer<UInt8>, limits: PDFLimits = PDFLimits()) throws(NotSure) {
        self.bytes = bytes
        self.limits = limits
        budget = limits.maxDecodedBytes
        guard Self.isPDF(bytes) else { throw NotSure("no %PDF- header") }
        var next: Int? = try startxref()
        var seen: Set<Int> = []
        var newest = true
        while let offset = next {
            guard seen.insert(offset).inserted else { throw NotSure("the cross-reference sections form a loop") }
            let section = try readSection(at: offset)
            if newest { trailer = section }
            newest = false
            if let hybrid = section["XRefStm"] {
                guard let stream = hybrid.integer, seen.insert(stream).inserted else {
                    throw NotSure("an /XRefStm that is not a new offset")
                }
                _ = try readSection(at: stream, streamOnly: true)
            }
            if let previous = section["Prev"] {
                guard let value = previous.integer else { throw NotSure("a /Prev that is not an integer") }
                next = value
            } else {
                next = nil
            }
        }
        guard trailer["Encrypt"] == nil else { throw NotSure("it is encrypted") }
    }

    /// The offset after the last `startxref` in the last 1 KiB.
    private func startxref() throws(NotSure) -> Int {
        let keyword = Array("startxref".utf8)
        let tail = max(0, bytes.count - 1024)
        var index = bytes.count - keyword.count
        while index >= tail {
            if bytes[index] == keyword[0], bytes[index..<index + keyword.count].elementsEqual(keyword) {
                var parser = PDFParser(bytes, at: index + keyword.count)
                guard let offset = parser.integer() else { throw NotSure("no offset after startxref") }
                return offset
            }
            index -= 1
        }
        throw NotSure("no startxref in its last 1024 bytes")
    }

    private mutating func readSection(at offset: Int, streamOnly: Bool = false) throws(NotSure) -> PDFDictionary {
        sections += 1
        guard sections <= limits.maxSections else { throw NotSure("more than \(limits.maxSections) cross-reference sections") }
        guard offset >= 0, offset < bytes.count else { throw NotSure("a cross-reference offset outside the file") }
        var parser = PDFParser(bytes, at: offset, maxDepth: limits.maxDepth)
        if !streamOnly, parser.token().elementsEqual("xref".utf8) {
            return try readTable(&parser)
        }
        return try readStream(at: offset)
    }

    private mutating func define(_ number: Int, _ entry: Entry) throws(NotSure) {
        guard number >= 0 else { throw NotSure("a negative object number") }
        if entries[number] == nil {
            guard entries.count < limits.maxObjects else { throw NotSure("more than \(limits.maxObjects) objects") }
            entries[number] = number == 0 ? .free : entry
        }
    }

    /// A classic table (§7.5.4) and its trailer.
    private mutating func readTable(_ parser: inout PDFParser) throws(NotSure) -> PDFDictionary {
        while true {
            let mark = parser.position
            if parser.token().elementsEqual("trailer".utf8) {
                guard case .dictionary(let trailer) = try parser.object() else { throw NotSure("a trailer that is not a dictionary") }
                return trailer
            }
            parser.position = mark
            guard let start = parser.integer(), let count = parser.integer() else {
                throw NotSure("a cross-reference subsection without its start and count at byte \(mark)")
            }
            guard count <= limits.maxObjects, start <= limits.maxObjects else { throw NotSure("more than \(limits.maxObjects) objects") }
            for number in start..<start + count {
                guard let field = parser.integer(), let generation = parser.integer() else {
                    throw NotSure("a cross-reference entry that is not two numbers at byte \(parser.position)")
                }
                let kind = parser.token()
                if kind.elementsEqual("n".utf8) {
                    try define(number, .offset(field, generation: generation))
                } else if kind.elementsEqual("f".utf8) {
                    try define(number, .free)
                } else {
                    throw NotSure("a cross-reference entry that is neither n nor f at byte \(parser.position)")
                }
            }
        }
    }

    /// A cross-reference stream (§7.5.8), whose dictionary is also the trailer.
    private mutating func readStream(at offset: Int) throws(NotSure) -> PDFDictionary {
        let object: PDFObject
        do {
            object = try readIndirect(at: offset, directLength: true).1
        } catch {
            throw NotSure("the cross-reference offset \(offset) points at neither a table nor an /XRef stream (\(error.reason))")
        }
        guard case .stream(let dictionary, let range) = object, dictionary["Type"]?.nameValue == "XRef" else {
            throw NotSure("the cross-reference offset points at neither a table nor an /XRef stream")
        }
        guard case .array(let widthObjects) = dictionary["W"], widthObjects.count == 3 else { throw NotSure("an /XRef stream without /W [a b c]") }
        let widths = widthObjects.map { $0.integer ?? -1 }
        guard widths.allSatisfy({ (0...8).contains($0) }), widths[1] > 0 else { throw NotSure("an /XRef stream with bad /W widths") }
        guard let size = dictionary["Size"]?.integer, (0...limits.maxObjects).contains(size) else {
            throw NotSure("an /XRef stream without a /Size up to \(limits.maxObjects)")
        }
        var subsections: [(start: Int, count: Int)] = []
        if case .array(let index) = dictionary["Index"] {
            guard index.count.isMultiple(of: 2) else { throw NotSure("an /XRef /Index with an odd count") }
            for pair in stride(from: 0, to: index.count, by: 2) {
                guard let start = index[pair].integer, let count = index[pair + 1].integer,
                      (0...limits.maxObjects).contains(start), (0...limits.maxObjects).contains(count)
                else { throw NotSure("an /XRef /Index that is not pairs of counts") }
                subsections.append((start, count))
            }
        } else {
            guard dictionary["Index"] == nil else { throw NotSure("an /XRef /Index that is not an array") }
            subsections = [(0, size)]
        }
        let data = try decodeWhole(dictionary, range: range, what: "an /XRef stream")
        let rowWidth = widths.reduce(0, +)
        guard subsections.reduce(0, { $0 + $1.count }) * rowWidth <= data.count else {
            throw NotSure("an /XRef stream with fewer rows than its /Index")
        }
        var row = 0
        for (start, count) in subsections {
            for number in start..<start + count {
                var fields = [0, 0, 0]
                var position = row * rowWidth
                for (field, width) in widths.enumerated() {
                    for _ in 0..<width {
                        fields[field] = fields[field] << 8 | Int(data[position])
                        position += 1
                    }
                }
                if widths[0] == 0 { fields[0] = 1 }
                switch fields[0] {
                case 0: try define(number, .free)
                case 1: try define(number, .offset(fields[1], generation: fields[2]))
                case 2: try define(number, .compressed(stream: fields[1], index: fields[2]))
                default: try define(number, .free)  // §7.5.8.3: an unknown type is a reference to null
                }
                row += 1
            }
        }
        return dictionary
    }

    /// Decodes a stream whose every filter is decoded here, or throws.
    mutating func decodeWhole(_ dictionary: PDFDictionary, range: Range<Int>, what: String) throws(NotSure) -> [UInt8] {
        let decoded = try PDFFilters.decode(
            UnsafeBufferPointer(rebasing: bytes[range]), steps: try filterSteps(of: dictionary), budget: &budget)
        guard decoded.remaining.isEmpty else { throw NotSure("\(what) with the filter \(decoded.remaining[0].name)") }
        return decoded.bytes
    }

    /// A stream's `/Filter` and `/DecodeParms`, resolved.
    mutating func filterSteps(of dictionary: PDFDictionary) throws(NotSure) -> [PDFFilters.Step] {
        guard dictionary["F"] == nil else { throw NotSure("a stream whose data is in an external file") }
        let names: [PDFObject]
        switch try resolve(dictionary["Filter"] ?? .null) {
        case .null: names = []
        case .name(let name): names = [.name(name)]
        case .array(let array): names = array
        default: throw NotSure("a /Filter that is neither a name nor an array")
        }
        let parameters: [PDFObject]
        switch try resolve(dictionary["DecodeParms"] ?? .null) {
        case .null: parameters = Array(repeating: .null, count: names.count)
        case .dictionary(let single): parameters = [.dictionary(single)]
        case .array(let array): parameters = array
        default: throw NotSure("a /DecodeParms that is neither a dictionary nor an array")
        }
        guard parameters.count == names.count else { throw NotSure("a /DecodeParms whose length is not the /Filter's") }
        var steps: [PDFFilters.Step] = []
        for (name, parameter) in zip(names, parameters) {
            guard case .name(let filter) = try resolve(name) else { throw NotSure("a /Filter entry that is not a name") }
            switch try resolve(parameter) {
            case .null:
                steps.append(PDFFilters.Step(name: filter, parameters: nil))
            case .dictionary(var dictionary):
                for index in dictionary.entries.indices { dictionary.entries[index].value = try resolve(dictionary.entries[index].value) }
                steps.append(PDFFilters.Step(name: filter, parameters: dictionary))
            default:
                throw NotSure("a /DecodeParms entry that is not a dictionary")
            }
        }
        return steps
    }

    /// `n g obj … endobj` at `offset`: the object, with a stream's data located by its `/Length`.
    private mutating func readIndirect(at offset: Int, directLength: Bool = false) throws(NotSure) -> (PDFReference, PDFObject) {
        guard offset >= 0, offset < bytes.count else { throw NotSure("an object offset outside the file") }
        var parser = PDFParser(bytes, at: offset, maxDepth: limits.maxDepth)
        guard let number = parser.integer(), let generation = parser.integer() else {
            throw NotSure("no object header at byte \(offset)")
        }
        try parser.expect("obj")
        let object = try parser.object()
        let reference = PDFReference(number: number, generation: generation)
        let mark = parser.position
        guard case .dictionary(let dictionary) = object, parser.token().elementsEqual("stream".utf8) else {
            parser.position = mark
            try parser.expect("endobj")
            return (reference, object)
        }
        // `stream` is followed by CRLF or LF (§7.3.8.1); the data starts after it.
        if parser.position < bytes.count, bytes[parser.position] == 0x0D { parser.position += 1 }
        guard parser.position < bytes.count, bytes[parser.position] == 0x0A else {
            throw NotSure("'stream' not followed by an end of line at byte \(parser.position)")
        }
        let start = parser.position + 1
        let lengthObject = dictionary["Length"] ?? .null
        if directLength, case .reference = lengthObject { throw NotSure("an /XRef stream with an indirect /Length") }
        guard let length = try resolve(lengthObject).integer, length >= 0, length <= bytes.count - start else {
            throw NotSure("a stream /Length that is missing or runs past the end of the file")
        }
        parser.position = start + length
        try parser.expect("endstream")
        return (reference, .stream(dictionary, data: start..<start + length))
    }

    /// The object `number`: `null` if it is free or not defined (§7.3.10).
    mutating func object(_ reference: PDFReference) throws(NotSure) -> PDFObject {
        if let known = loaded[reference.number] { return known }
        let object: PDFObject
        switch entries[reference.number] ?? .free {
        case .free:
            return .null
        case .offset(let offset, let generation):
            guard generation == reference.generation else {
                throw NotSure("a reference to \(reference.number) \(reference.generation) R where the object has generation \(generation)")
            }
            guard loading.count < limits.maxReferenceDepth else { throw NotSure("more than \(limits.maxReferenceDepth) objects read to find one") }
            guard loading.insert(reference.number).inserted else { throw NotSure("an object whose /Length refers to itself") }
            defer { loading.remove(reference.number) }
            let (found, value) = try readIndirect(at: offset)
            guard found == reference else {
                throw NotSure("object \(reference.number) is not at the offset the cross-reference gives")
            }
            object = value
        case .compressed(let stream, let index):
            guard reference.generation == 0 else { throw NotSure("a reference to a compressed object with generation \(reference.generation)") }
            let objects = try objectStream(stream)
            guard index < objects.count, objects[index].number == reference.number else {
                throw NotSure("object \(reference.number) is not where its object stream's index says")
            }
            object = objects[index].object
        }
        loaded[reference.number] = object
        return object
    }

    /// Follows references until a direct object.
    mutating func resolve(_ object: PDFObject) throws(NotSure) -> PDFObject {
        var current = object
        var steps = 0
        while case .reference(let reference) = current {
            steps += 1
            guard steps <= limits.maxReferenceDepth else { throw NotSure("a chain of references longer than \(limits.maxReferenceDepth)") }
            current = try self.object(reference)
        }
        return current
    }

    /// The objects of the object stream `number` (§7.5.7), in order.
    private mutating func objectStream(_ number: Int) throws(NotSure) -> [(number: Int, object: PDFObject)] {
        if let known = objectStreams[number] { return known }
        guard case .offset = entries[number] ?? .free,
              case .stream(let dictionary, let range) = try object(PDFReference(number: number, generation: 0)),
              dictionary["Type"]?.nameValue == "ObjStm",
              let count = try resolve(dictionary["N"] ?? .null).integer, (0...limits.maxObjects).contains(count),
              let first = try resolve(dictionary["First"] ?? .null).integer, first >= 0
        else { throw NotSure("a compressed object whose object stream \(number) is not a valid /ObjStm") }
        let data = try decodeWhole(dictionary, range: range, what: "an object stream")
        let limits = limits
        let result = data.withUnsafeBufferPointer { buffer -> Result<[(number: Int, object: PDFObject)], NotSure> in
            Result { () throws(NotSure) in
                var header = PDFParser(buffer, at: 0, maxDepth: limits.maxDepth)
                var objects: [(number: Int, object: PDFObject)] = []
                for _ in 0..<count {
                    guard let objectNumber = header.integer(), let offset = header.integer(), header.position <= first,
                          first <= buffer.count - offset
                    else { throw NotSure("an object stream header that is not pairs of numbers") }
                    var parser = PDFParser(buffer, at: first + offset, maxDepth: limits.maxDepth)
                    let object = try parser.object()
                    objects.append((objectNumber, object))
                }
                return objects
            }
        }
        let objects = try result.get()
        objectStreams[number] = objects
        return objects
    }
}
