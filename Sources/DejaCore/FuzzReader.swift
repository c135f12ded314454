/// DejaCore's readers of untrusted bytes, as the fuzzer (the Fuzz/ package, scripts/fuzz.sh) and the
/// replay of its corpus in the tests drive them: one entry point, so what was fuzzed is what is replayed.
///
/// Each reader must return — a value, a fallback or a typed error — and never trap, hang or allocate
/// without bound; ``run(_:)`` traps itself when an invariant the rest of Deja relies on breaks (a
/// fallback image digest that is not the digest of the bytes, a base64 round trip that changes them).
enum FuzzReader: String, CaseIterable, Sendable {
    /// `JSONValue(parsing:)`, then the whole `Canonicalizer` on the same bytes as a request body.
    case json
    /// `Base64.decode`, and a round trip through `Base64.encode`.
    case base64
    /// A PNG signature + the input through `ImageContent.digest` (chunks, CRC, inflate, unfilter).
    case png
    /// The same with every chunk's CRC repaired, so that mutations reach the inflater and the unfilter.
    case pngRepaired = "png-crc"
    /// `FF D8` + the input through `ImageContent.digest` (segments, EXIF, the coefficient reader or the
    /// segment digest).
    case jpeg
    /// `FF D8` + the input straight to the coefficient reader with small limits, checking its invariants
    /// (`JPEGCoefficients.fuzz`).
    case jpegCoefficients = "jpeg-dct"
    /// `EXIFOrientation.read` (TIFF IFD0).
    case exif
    /// `%PDF-` + the input through `ImageContent.digest` (cross-reference sections, objects, object
    /// streams, filters, the page tree and the page digests) and `PDFPages.count`, which must agree.
    case pdf
    /// `PlainRequestHead.read`, the byte-level hit path's reader of request heads, checking that what it
    /// accepts lies within the bytes, reads the same from the head's own bytes, and that its fields can
    /// be walked.
    case http

    /// Limits small enough that a fuzzer's inputs never need gigabytes.
    static let limits = ImageLimits(maxPixels: 1 << 22, maxDecodedBytes: 64 << 20)
    static let policy = TaskPolicy(
        task: "ocr", protocolName: "paddlex-ocr", modelName: "fuzz", modelVersion: "1", volatileFields: ["logId"],
        defaults: ["fileType": 1], binaryFields: ["file"], requiredFields: ["file"])

    /// The inputs of a seeds file (Fuzz/seeds/<reader>.seeds, written by scripts/fuzz.sh): each a 4-byte
    /// big-endian length and its bytes; a truncated last record is left out.
    static func inputs(packed: [UInt8]) -> [[UInt8]] {
        var inputs: [[UInt8]] = []
        var position = 0
        while packed.count - position >= 4 {
            let length = packed[position..<position + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= packed.count - position - 4 else { break }
            inputs.append(Array(packed[position + 4..<position + 4 + length]))
            position += 4 + length
        }
        return inputs
    }

    /// Runs the reader on `data`.
    func run(_ data: UnsafeBufferPointer<UInt8>) {
        switch self {
        case .json:
            _ = try? JSONValue(parsing: data)
            _ = try? Canonicalizer(imageLimits: Self.limits).canonicalize(body: data, policy: Self.policy, scope: nil)
        case .base64:
            if case .success(let (bytes, _)) = Base64.decode(data) {
                let again = Array(Base64.encode(bytes).utf8)
                guard case .success(let (roundTrip, _)) = again.withUnsafeBufferPointer({ Base64.decode($0) }), roundTrip == bytes else {
                    fatalError("base64 round trip failed")
                }
            }
        case .png:
            Self.digest(PNGFile.signature + Array(data))
        case .pngRepaired:
            Self.digest(Self.repairingCRCs(PNGFile.signature + Array(data)))
        case .jpeg:
            Self.digest([0xFF, 0xD8] + Array(data))
        case .jpegCoefficients:
            JPEGCoefficients.fuzz([0xFF, 0xD8] + Array(data))
        case .exif:
            _ = EXIFOrientation.read(data)
        case .pdf:
            let bytes = Array("%PDF-".utf8) + Array(data)
            let digest = bytes.withUnsafeBufferPointer { buffer in
                let digest = ImageContent.pdf(buffer, limits: Self.limits).digest
                if digest.kind == .bytes, digest != ImageContent.plain(buffer) { fatalError("a fallback digest is not the digest of the bytes") }
                return digest
            }
            if digest.kind == .pdfPages, case .unknown = PDFPages.count(bytes) { fatalError("pages digested without a page count") }
        case .http:
            Self.readHead(UnsafeRawBufferPointer(data))
        }
    }

    private static func readHead(_ bytes: UnsafeRawBufferPointer) {
        switch PlainRequestHead.read(bytes) {
        case .incomplete:
            if bytes.count >= PlainRequestHead.maxHeadBytes { fatalError("a head past the limit is incomplete") }
        case .notPlain:
            break
        case .head(let head):
            guard head.bodyStart <= bytes.count, head.bodyStart <= PlainRequestHead.maxHeadBytes,
                  head.target.lowerBound == 5, head.target.upperBound < head.bodyStart, head.contentLength >= 0
            else { fatalError("a head outside its bytes: \(head)") }
            for range in [head.authorization, head.cacheControl].compactMap({ $0 }) where range.upperBound > head.bodyStart {
                fatalError("a field value outside the head: \(range)")
            }
            var fields = 0
            head.forEachField(in: bytes) { name, value in
                fields += 1
                if name.isEmpty || value.upperBound > head.bodyStart - 2 { fatalError("a field outside the head") }
            }
            if fields > PlainRequestHead.maxFields { fatalError("more fields than the limit") }
            if PlainRequestHead.read(UnsafeRawBufferPointer(rebasing: bytes[..<head.bodyStart])) != .head(head) {
                fatalError("the head reads differently from its own bytes")
            }
        }
    }

    private static func digest(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            if case .success(let outcome) = Result(catching: { () throws(ImageContent.TooLarge) in
                try ImageContent.digest(of: buffer, limits: limits, cache: nil, scope: "fuzz")
            }), outcome.digest.kind == .bytes, outcome.digest != ImageContent.plain(buffer) {
                fatalError("a fallback digest is not the digest of the bytes")
            }
        }
    }

    private static func repairingCRCs(_ png: [UInt8]) -> [UInt8] {
        var out = png
        var position = 8
        while out.count - position >= 12 {
            let length = Int(out[position]) << 24 | Int(out[position + 1]) << 16 | Int(out[position + 2]) << 8 | Int(out[position + 3])
            guard length <= out.count - position - 12 else { break }
            let crc = out.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[position + 4..<position + 8 + length])) }
            for k in 0..<4 { out[position + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> UInt32(24 - 8 * k)) }
            position += 12 + length
        }
        return out
    }
}
