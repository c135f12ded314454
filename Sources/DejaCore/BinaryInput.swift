/// Canonicalisation of one binary member: base64 (any common spelling), a base64 data URI, or a URL.
enum BinaryInput {
    struct Outcome {
        /// The ``ContentDigest`` of the decoded bytes (`png-pixels-sha256:`, `jpeg-dct-sha256:`,
        /// `jpeg-scan-sha256:` or `sha256:<hex>`), or the URL text.
        var canonical: JSONValue
        /// Standard padded base64 of the decoded bytes, or the URL text.
        var forward: JSONValue
        var notes: [String] = []
        var decodedCount = 0
    }

    /// How decoded files are digested: image bounds and the optional decode-once cache.
    struct Context {
        var limits = ImageLimits()
        var cache: (any ContentDigestCache)?
        /// The request's cache scope: files remembered in ``cache`` are remembered per scope.
        var scope = "shared"
    }

    static func canonicalize(_ value: JSONValue, key: String, context: Context = Context()) throws(CanonicalError) -> Outcome {
        let path = JSONPath.member(key)
        let name = JSONPath.displayName(key)
        guard case .string(let text) = value else {
            throw CanonicalError(
                .wrongType, path: path,
                message: "must be a string holding base64 data, a base64 data URI or an http(s) URL, not a \(value.kindName)"
            )
        }
        var utf8Text = text
        let result = utf8Text.withUTF8 { utf8 -> Result<Outcome, CanonicalError> in
            Result { () throws(CanonicalError) in
                try canonicalize(utf8, original: text, path: path, name: name, context: context)
            }
        }
        return try result.get()
    }

    private static func canonicalize(
        _ utf8: UnsafeBufferPointer<UInt8>,
        original: String,
        path: String,
        name: String,
        context: Context
    ) throws(CanonicalError) -> Outcome {
        guard !utf8.isEmpty else {
            throw CanonicalError(.invalidBase64, path: path, message: "is empty; send the file's bytes as base64 or an http(s) URL")
        }
        if hasPrefix(utf8, "http://") || hasPrefix(utf8, "https://") {
            return Outcome(
                canonical: .string(original), forward: .string(original),
                notes: ["\(name): URL kept as is (keyed on the URL text, not the content behind it)"]
            )
        }
        var notes: [String] = []
        var payload = utf8
        var isDataURI = false
        if hasPrefix(utf8, "data:") {
            guard let comma = utf8.firstIndex(of: .comma) else {
                throw CanonicalError(.invalidBase64, path: path, message: "is a data URI without a ',' before the data; use data:<type>;base64,<data>")
            }
            let header = utf8[5..<comma].split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
            guard header.count >= 2, let last = header.last, asciiLowercased(last) == Array("base64".utf8) else {
                throw CanonicalError(.invalidBase64, path: path, message: "is a data URI that is not base64-encoded; use data:<type>;base64,<data>")
            }
            notes.append("\(name): data URI prefix removed (\(mediaTypeForNote(Array(header[0]))))")
            payload = UnsafeBufferPointer(rebasing: utf8[(comma + 1)...])
            isDataURI = true
        }
        switch Base64.decode(payload) {
        case .failure(let failure):
            throw CanonicalError(
                .invalidBase64, path: path,
                message: "not valid base64 (\(failure.explanation)); send standard or URL-safe base64, a base64 data URI or an http(s) URL"
            )
        case .success(let (bytes, findings)):
            guard !bytes.isEmpty else {
                throw CanonicalError(.invalidBase64, path: path, message: "holds no data; send the file's bytes as base64 or an http(s) URL")
            }
            if findings.lineBreaks { notes.append("\(name): MIME line breaks removed") }
            if findings.otherWhitespace { notes.append("\(name): white space removed") }
            if findings.urlSafeAlphabet { notes.append("\(name): base64url alphabet converted to standard base64") }
            if findings.missingPadding { notes.append("\(name): base64 padding added") }
            if findings.nonZeroTrailingBits { notes.append("\(name): unused trailing bits of the last base64 character cleared") }
            let content = bytes.withUnsafeBufferPointer { bytes in
                Result { () throws(ImageContent.TooLarge) in
                    try ImageContent.digest(of: bytes, limits: context.limits, cache: context.cache, scope: context.scope)
                }
            }
            let image: ImageContent.Outcome
            switch content {
            case .success(let outcome): image = outcome
            case .failure(let tooLarge):
                throw CanonicalError(.imageTooLarge, path: path, message: tooLarge.message + "; send a smaller image")
            }
            notes += image.notes.map { "\(name): \($0)" }
            let forward = findings.isCanonical && !isDataURI ? original : Base64.encode(bytes)
            return Outcome(
                canonical: .string(image.digest.description), forward: .string(forward), notes: notes, decodedCount: bytes.count
            )
        }
    }

    private static func hasPrefix(_ utf8: UnsafeBufferPointer<UInt8>, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard utf8.count >= count else { return false }
        return asciiLowercased(utf8[0..<count]).elementsEqual(UnsafeBufferPointer(start: prefix.utf8Start, count: count))
    }

    private static func asciiLowercased(_ bytes: some Collection<UInt8>) -> [UInt8] {
        bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
    }

    /// The media type for a note, if it is a short plain token; a placeholder otherwise.
    private static func mediaTypeForNote(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "no media type" }
        let plain = bytes.count <= 64 && bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "-"),
                UInt8(ascii: "."), UInt8(ascii: "_"):
                true
            default: false
            }
        }
        return plain ? String(decoding: asciiLowercased(bytes), as: UTF8.self) : "media type not shown"
    }
}
