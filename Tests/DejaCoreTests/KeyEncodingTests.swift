import Testing

@testable import DejaCore

@Suite struct KeyEncodingTests {
    @Test func lengthPrefixesSeparateFieldBoundaries() {
        #expect(KeyEncoding.encode(fields: [utf8("ab"), utf8("c")]) != KeyEncoding.encode(fields: [utf8("a"), utf8("bc")]))
        #expect(KeyEncoding.encode(fields: [utf8(""), utf8("a")]) != KeyEncoding.encode(fields: [utf8("a"), utf8("")]))
        #expect(KeyEncoding.encode(fields: [utf8("a")]) != KeyEncoding.encode(fields: [utf8("a"), []]))
    }

    @Test func encodingIsBigEndianLengthThenBytes() {
        #expect(KeyEncoding.encode(fields: [utf8("ab"), []]) == [0, 0, 0, 0, 0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func randomTuplesEncodeInjectively() throws {
        var generator = SeededGenerator(seed: 99)
        var seen: [[UInt8]: [[UInt8]]] = [:]
        for _ in 0..<5_000 {
            // Tiny alphabet and lengths so that concatenations collide often without length prefixes.
            let fields = (0..<Int(generator.next() % 5)).map { _ in
                (0..<Int(generator.next() % 4)).map { _ in UInt8(generator.next() % 2) }
            }
            let encoded = KeyEncoding.encode(fields: fields)
            #expect(KeyEncoding.decode(encoded) == fields)
            if let previous = seen[encoded] {
                #expect(previous == fields)
            }
            seen[encoded] = fields
        }
        #expect(seen.count > 1_000)
    }

    @Test func decodeRejectsMalformedEncodings() {
        #expect(KeyEncoding.decode([0, 0, 0]) == nil)
        #expect(KeyEncoding.decode([0, 0, 0, 0, 0, 0, 0, 3, 1, 2]) == nil)
        #expect(KeyEncoding.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)
        #expect(KeyEncoding.decode([]) == [])
    }

    @Test func keyIsDigestOfVersionedFields() {
        let fields = CacheKey.fields(
            scope: "shared", task: "ocr", modelName: "PP-OCRv4", modelVersion: "4.0.0", configHash: "abc",
            canonicalForm: utf8(#"{"file":"sha256:00"}"#)
        )
        #expect(fields.first == utf8("deja-key-v1"))
        #expect(CanonicalScheme.version == 1)
        let key = CacheKey(
            scope: "shared", task: "ocr", modelName: "PP-OCRv4", modelVersion: "4.0.0", configHash: "abc",
            canonicalForm: utf8(#"{"file":"sha256:00"}"#)
        )
        #expect(key == CacheKey(digest: KeyEncoding.digest(fields: fields)))
    }

    /// Pins scheme version 1: if this changes, the canonical form or key rules changed and
    /// `CanonicalScheme.version` must be bumped (and this value updated).
    @Test func keySchemeVersionOneIsStable() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", volatileFields: ["requestId"], defaults: ["lang": "en"]
        )
        let request = try Canonicalizer().canonicalize(
            body: utf8(#"{"file": "QUJD", "n": 1.50, "t": "caf\u00e9", "lang": "en", "logId": "x"}"#),
            policy: policy, scope: nil
        )
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self)
            == "{\"file\":\"sha256:b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78\",\"n\":1.5,\"t\":\"caf\u{e9}\"}")
        #expect(policy.configHash == "610e45292833ffca161f9491d2ed9ff57d6bc202165c47f4f2060a763240ebe1")
        #expect(request.key.hex == "4bdd53c52a603489296812a1f5962cac55fea6aa6974de376057ce337a67f527")
    }
}
