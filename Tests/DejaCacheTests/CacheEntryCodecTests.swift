@testable import DejaCache
import DejaCore
import NIOCore
import Testing

@Suite struct CacheEntryCodecTests {
    let entry = CacheEntry(
        body: ByteBuffer(string: #"{"result":{"ocrResults":[]}}"#),
        contentType: "application/json; charset=utf-8",
        status: 200,
        modelVersion: "PP-OCRv4-2024.1",
        meteredTokens: 1234,
        upstreamSeconds: 0.875,
        createdAt: 1_800_000_000.5,
        expiresAt: 1_800_003_600.25,
        retainUntil: 1_800_090_000
    )

    @Test func roundTripsEveryField() throws {
        let decoded = try CacheEntry(decoding: entry.encoded())
        #expect(decoded == entry)
        #expect(decoded.retainUntil == entry.retainUntil)
        #expect(decoded.upstreamSeconds == entry.upstreamSeconds)
    }

    @Test func roundTripsTheProducerAndRedactions() throws {
        var tagged = entry
        tagged.producer = CacheEntry.producerTag(tenant: "acme")
        tagged.redactions = 3
        let decoded = try CacheEntry(decoding: tagged.encoded())
        #expect(decoded.producer == tagged.producer && decoded.producer != 0)
        #expect(decoded.redactions == 3)
        #expect(CacheEntry.producerTag(tenant: "acme") != CacheEntry.producerTag(tenant: "acme2"))
    }

    /// `entry` in an older layout, written by hand: version 1 (no producer, redactions, scope tag or
    /// task) or version 2 (no scope tag or task).
    func legacyEncoding(version: UInt8, producer: UInt64 = 0, redactions: UInt32 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0xDE))
        buffer.writeInteger(version)
        buffer.writeInteger(Int64(entry.status))
        buffer.writeInteger(entry.meteredTokens)
        for time in [entry.upstreamSeconds, entry.createdAt, entry.expiresAt, entry.retainUntil] {
            buffer.writeInteger(time.bitPattern)
        }
        if version == 2 {
            buffer.writeInteger(producer)
            buffer.writeInteger(redactions)
        }
        for text in [entry.contentType, entry.modelVersion] {
            buffer.writeInteger(UInt32(text.utf8.count))
            buffer.writeString(text)
        }
        buffer.writeInteger(UInt32(entry.body.readableBytes))
        buffer.writeImmutableBuffer(entry.body)
        return buffer
    }

    @Test func readsTheFirstVersionWithoutProducer() throws {
        let decoded = try CacheEntry(decoding: legacyEncoding(version: 1))
        #expect(decoded == entry)
        #expect(decoded.producer == 0 && decoded.redactions == 0)
    }

    @Test func readsTheSecondVersionWithoutTaskOrScope() throws {
        let decoded = try CacheEntry(decoding: legacyEncoding(version: 2, producer: 42, redactions: 2))
        #expect(decoded.producer == 42 && decoded.redactions == 2)
        #expect(decoded.task == "" && decoded.scopeTag == 0)
        #expect(decoded.body == entry.body && decoded.modelVersion == entry.modelVersion)
    }

    @Test func roundTripsTheTaskAndScopeTag() throws {
        var tagged = entry
        tagged.task = "ocr"
        tagged.scopeTag = CacheEntry.scopeTag(scopeField: "tenant:acme")
        let decoded = try CacheEntry(decoding: tagged.encoded())
        #expect(decoded.task == "ocr")
        #expect(decoded.scopeTag == CacheEntry.scopeTag(scopeField: "tenant:acme"))
        #expect(CacheEntry.scopeTag(scopeField: "tenant:acme") != CacheEntry.scopeTag(scopeField: "shared"))
        // A different domain from the producer tag: the two never coincide for the same text.
        #expect(CacheEntry.scopeTag(scopeField: "acme") != CacheEntry.producerTag(tenant: "acme"))
    }

    @Test func roundTripsAnEmptyBodyAndUnicodeText() throws {
        let odd = CacheEntry(
            body: ByteBuffer(),
            contentType: "text/plain; name=\"résumé 📄\"",
            status: 422,
            modelVersion: "模型-v2",
            meteredTokens: -1,
            createdAt: 0,
            expiresAt: 0
        )
        let decoded = try CacheEntry(decoding: odd.encoded())
        #expect(decoded == odd)
        #expect(decoded.body.readableBytes == 0)
    }

    @Test func roundTripsABinaryBody() throws {
        var body = ByteBuffer()
        body.writeBytes((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        var binary = entry
        binary.body = body
        #expect(try CacheEntry(decoding: binary.encoded()) == binary)
    }

    @Test func decodesFromTheMiddleOfABuffer() throws {
        var buffer = ByteBuffer(string: "prefix")
        buffer.moveReaderIndex(forwardBy: 6)
        var encoded = entry.encoded()
        buffer.writeBuffer(&encoded)
        #expect(try CacheEntry(decoding: buffer) == entry)
    }

    @Test func rejectsEveryTruncation() {
        let encoded = entry.encoded()
        for length in 0..<encoded.readableBytes {
            let truncated = encoded.getSlice(at: encoded.readerIndex, length: length)!
            #expect(throws: CacheStoreError.self) { try CacheEntry(decoding: truncated) }
        }
    }

    @Test func rejectsTrailingBytes() {
        var encoded = entry.encoded()
        encoded.writeInteger(UInt8(0))
        #expect(throws: CacheStoreError.self) { try CacheEntry(decoding: encoded) }
    }

    @Test func rejectsAnUnknownVersionOrMagic() {
        for offset in [0, 1] {
            var encoded = entry.encoded()
            encoded.setInteger(encoded.getInteger(at: offset, as: UInt8.self)! &+ 1, at: offset)
            #expect(throws: CacheStoreError.self) { try CacheEntry(decoding: encoded) }
        }
    }

    @Test func rejectsALengthBeyondTheData() throws {
        var encoded = entry.encoded()
        // The content type length follows the fixed header.
        let offset = CacheEntry.codecHeaderBytes - 16
        encoded.setInteger(UInt32.max, at: offset)
        let error = try #require(throws: CacheStoreError.self) { try CacheEntry(decoding: encoded) }
        #expect(error.code == .corruptEntry)
    }

    @Test func rejectsTextThatIsNotUTF8() {
        var encoded = entry.encoded()
        let offset = CacheEntry.codecHeaderBytes - 16 + 4  // first content type byte
        encoded.setInteger(UInt8(0xFF), at: offset)
        #expect(throws: CacheStoreError.self) { try CacheEntry(decoding: encoded) }
    }

    @Test func neverCrashesOnGarbage() {
        var generator = SystemRandomNumberGenerator()
        let valid = Array(entry.encoded().readableBytesView)
        for _ in 0..<2000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &generator)) }
            _ = try? CacheEntry(decoding: ByteBuffer(bytes: bytes))
        }
        for length in 0..<200 {
            let random = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? CacheEntry(decoding: ByteBuffer(bytes: random))
        }
    }

    @Test func errorDescriptionHoldsNoContent() {
        var encoded = entry.encoded()
        encoded.writeString("trailing")
        do {
            _ = try CacheEntry(decoding: encoded)
            Issue.record("decoding should fail")
        } catch {
            #expect(!error.description.contains("ocrResults"))
            #expect(!error.description.contains("PP-OCR"))
        }
    }
}
