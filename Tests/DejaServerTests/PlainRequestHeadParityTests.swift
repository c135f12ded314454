import DejaCore
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// ``PlainRequestHead`` accepts only heads NIO's HTTP/1 parser (llhttp) reads the same way: for every
/// accepted input, llhttp gives the same method, target, version, fields in order, body bytes and end —
/// proven by a request appended behind it, which llhttp must read as the next one — and a kept-alive
/// connection. Inputs are plain requests mutated the way request smuggling and sloppy clients write
/// them, plus a list of the classic cases, which must not be plain at all.
@Suite struct PlainRequestHeadParityTests {
    /// What llhttp made of `bytes` followed by the canary request.
    static func llhttpParts(_ bytes: [UInt8]) throws -> [HTTPServerRequestPart] {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: bytes + Self.canary))
        var parts: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(part) }
        return parts
    }

    static let canary = Array("GET /canary HTTP/1.1\r\nHost: c\r\n\r\n".utf8)

    /// Checks that llhttp reads the accepted `head` in `bytes` as the reader did; a description of the
    /// first difference, or `nil`.
    static func difference(_ bytes: [UInt8], _ head: PlainRequestHead) -> String? {
        let request = Array(bytes[..<head.end])
        let parts: [HTTPServerRequestPart]
        do { parts = try llhttpParts(request) } catch { return "llhttp failed: \(error)" }
        guard case .head(let parsed)? = parts.first else { return "no head" }
        let target = request.withUnsafeBytes { String(decoding: $0[head.target], as: UTF8.self) }
        guard parsed.method == .POST, parsed.uri == target, parsed.version == .http1_1 else { return "request line \(parsed)" }
        guard parsed.isKeepAlive else { return "not kept alive" }
        var fields: [String] = []
        request.withUnsafeBytes { raw in
            head.forEachField(in: raw) { name, value in
                fields.append(String(decoding: raw[name], as: UTF8.self) + ": " + String(decoding: raw[value], as: UTF8.self))
            }
        }
        let llhttpFields = parsed.headers.map { "\($0.name): \($0.value)" }
        guard llhttpFields == fields else { return "fields \(llhttpFields) vs \(fields)" }
        var body: [UInt8] = []
        var index = 1
        while index < parts.count, case .body(let part) = parts[index] {
            body += part.readableBytesView
            index += 1
        }
        guard body == Array(request[head.bodyStart...]) else { return "body \(body.count) bytes vs \(head.contentLength)" }
        guard parts.count >= index + 2 else { return "parts \(parts)" }
        guard case .end(nil) = parts[index] else { return "no end after the body: \(parts[index])" }
        guard case .head(let next) = parts[index + 1], next.uri == "/canary" else { return "the next request is not the canary: \(parts[index + 1])" }
        return nil
    }

    static let plain: [String] = [
        "POST /ocr HTTP/1.1\r\nHost: deja\r\nAuthorization: Bearer dj_abc\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"file\":\"QQ\"}",
        "POST /v1/sentiment?x=1 HTTP/1.1\r\ncontent-length:2\r\nauthorization:Bearer k\r\ncache-control: no-cache\r\n\r\n{}",
        "POST /ocr HTTP/1.1\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n",
        "POST /ocr HTTP/1.1\r\nX-Empty:\r\nX-Spaced:    a b   c\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nHost: localhost\r\nConnection: Keep-Alive\r\nAccept-Encoding: gzip, deflate\r\nContent-Length: 2\r\n\r\n{}",
    ]

    @Test(arguments: plain)
    func plainRequestsAreReadAsLlhttpReadsThem(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard case .head(let head) = bytes.withUnsafeBytes({ PlainRequestHead.read($0) }) else {
            Issue.record("not plain: \(text.debugDescription)")
            return
        }
        #expect(head.end == bytes.count)
        #expect(Self.difference(bytes, head) == nil)
        // Every proper prefix is incomplete; the head alone is a head whose body has not arrived.
        for cut in [1, 5, 20, head.bodyStart - 1] where cut < head.bodyStart {
            #expect(Array(bytes[..<cut]).withUnsafeBytes { PlainRequestHead.read($0) } == .incomplete)
        }
        #expect(Array(bytes[..<head.bodyStart]).withUnsafeBytes { PlainRequestHead.read($0) } == .head(head))
    }

    /// Heads that frame, end or mean something differently somewhere — never plain.
    static let notPlain: [String] = [
        "POST /ocr HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 05\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5 \r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length:\t5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5,5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nX: a\r\n folded\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\nContent-Length: 5\n\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nContent-Length: 5\r\n\nhello",
        "POST /ocr HTTP/1.1\r\nX: a\rb\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nX: a\u{0}b\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nX: caf\u{e9}\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nConnection: keep-alive, close\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nConnection: upgrade\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nProxy-Connection: close\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nIdempotency-Key: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nCache-Control: no-cache\r\nCache-Control: max-age=0\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /ocr HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1 \r\nContent-Length: 5\r\n\r\nhello",
        "POST  /ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "post /ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET /ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "POST http://deja/ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "POST /o\"cr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr#x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        " POST /ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "\r\nPOST /ocr HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\n: empty-name\r\nContent-Length: 5\r\n\r\nhello",
        "POST /ocr HTTP/1.1\r\nX(y): z\r\nContent-Length: 5\r\n\r\nhello",
    ]

    @Test(arguments: notPlain)
    func theClassicCasesAreNotPlain(_ text: String) {
        let reading = Array(text.utf8).withUnsafeBytes { PlainRequestHead.read($0) }
        #expect(reading == .notPlain, "\(text.debugDescription) read as \(reading)")
    }

    @Test func longHeadsAndManyFieldsAreNotPlain() {
        let long = "POST /ocr HTTP/1.1\r\nX: \(String(repeating: "a", count: PlainRequestHead.maxHeadBytes))\r\nContent-Length: 1\r\n\r\na"
        #expect(Array(long.utf8).withUnsafeBytes { PlainRequestHead.read($0) } == .notPlain)
        // A head still arriving past the limit is not plain either, rather than forever incomplete.
        let arriving = Array(long.utf8.prefix(PlainRequestHead.maxHeadBytes + 10))
        #expect(arriving.withUnsafeBytes { PlainRequestHead.read($0) } == .notPlain)
        let many = "POST /ocr HTTP/1.1\r\n" + String(repeating: "X: a\r\n", count: PlainRequestHead.maxFields) + "Content-Length: 1\r\n\r\na"
        #expect(Array(many.utf8).withUnsafeBytes { PlainRequestHead.read($0) } == .notPlain)
    }

    /// A small deterministic generator (SplitMix64), so a failure names its seed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let pieces: [[UInt8]] = [
        " ", "\t", "\r", "\n", "\r\n", ":", ": ", "0", "1", "9", "00", ",", ";", "a", "A", "-", "/", "?", "#", "%", "\"", "\\",
        "Content-Length: 3\r\n", "Content-Length: 13\r\n", "Transfer-Encoding: chunked\r\n", "Connection: close\r\n",
        "X-A: b\r\n", "Connection: keep-alive\r\n", "\r\n ", " \r\n", "HTTP/1.0", "Authorization: Bearer x\r\n", "content-length:13\r\n",
    ].map { Array($0.utf8) } + [[0x00], [0x7F], [0x80], [0xFF], [0x0B], [0x0C]]

    /// Mutations of a plain request: bytes replaced, inserted, deleted, lines repeated, letters' case flipped.
    static func mutate(_ input: [UInt8], _ generator: inout Generator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let at = Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<5, using: &generator) {
            case 0 where at < bytes.count:
                bytes[at] = pieces.randomElement(using: &generator)!.first!
            case 1:
                bytes.insert(contentsOf: pieces.randomElement(using: &generator)!, at: at)
            case 2 where at < bytes.count:
                bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...4, using: &generator)))
            case 3:
                // Repeat the line around `at`.
                let start = bytes[..<min(at, bytes.count)].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
                if let end = bytes[start...].firstIndex(of: 0x0A) { bytes.insert(contentsOf: bytes[start...end], at: start) }
            default:
                if at < bytes.count, (0x41...0x5A).contains(bytes[at] & ~0x20) { bytes[at] ^= 0x20 }
            }
        }
        return bytes
    }

    @Test(arguments: 0..<4)
    func mutatedRequestsThatReadAsPlainReadAlikeInLlhttp(_ seed: UInt64) throws {
        var generator = Generator(state: seed)
        var accepted = 0, rejected = 0
        for round in 0..<6_000 {
            let input = Self.mutate(Array(Self.plain.randomElement(using: &generator)!.utf8), &generator)
            switch input.withUnsafeBytes({ PlainRequestHead.read($0) }) {
            case .head(let head) where head.end <= input.count:
                accepted += 1
                if let difference = Self.difference(input, head) {
                    Issue.record("seed \(seed) round \(round): \(String(decoding: input, as: UTF8.self).debugDescription): \(difference)")
                    return
                }
            case .head, .incomplete:
                break
            case .notPlain:
                rejected += 1
            }
        }
        // Both sides of the grammar were reached, so the comparison is not vacuous.
        #expect(accepted > 500, "only \(accepted) mutated inputs were plain")
        #expect(rejected > 500, "only \(rejected) mutated inputs were not plain")
    }
}
