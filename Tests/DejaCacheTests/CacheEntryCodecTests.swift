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

    @Test func readsTheFirstVersionWithoutProducer() throws {
        // Version 1: the same layout without the producer tag and the redaction count.
        var v2 = entry.encoded()
        var v1 = ByteBuffer()
        v1.writeInteger(UInt8(0xDE))
        v1.writeInteger(UInt8(1))
        v2.moveReaderIndex(forwardBy: 2)
        v1.writeBytes(v2.readBytes(length: 8 + 8 + 8 * 4)!)
        v2.moveReaderIndex(forwardBy: 8 + 4)
        v1.writeBuffer(&v2)
        let decoded = try CacheEntry(decoding: v1)
        #expect(decoded == entry)
        #expect(decoded.producer == 0 && decoded.redactions == 0)
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
        let offset = CacheEntry.codecHeaderBytes - 12
        encoded.setInteger(UInt32.max, at: offset)
        let error = try #require(throws: CacheStoreError.self) { try CacheEntry(decoding: encoded) }
        #expect(error.code == .corruptEntry)
    }

    @Test func rejectsTextThatIsNotUTF8() {
        var encoded = entry.encoded()
        let offset = CacheEntry.codecHeaderBytes - 12 + 4  // first content type byte
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
