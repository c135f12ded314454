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
        #expect(fields.first == utf8("deja-key-v2"))
        #expect(CanonicalScheme.version == 2)
        let key = CacheKey(
            scope: "shared", task: "ocr", modelName: "PP-OCRv4", modelVersion: "4.0.0", configHash: "abc",
            canonicalForm: utf8(#"{"file":"sha256:00"}"#)
        )
        #expect(key == CacheKey(digest: KeyEncoding.digest(fields: fields)))
    }

    /// Pins scheme version 2: if this changes, the canonical form or key rules changed and
    /// `CanonicalScheme.version` must be bumped (and these values updated).
    @Test func keySchemeVersionTwoIsStable() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", volatileFields: ["requestId"], defaults: ["lang": "en"]
        )
        let request = try Canonicalizer().canonicalize(
            body: utf8(#"{"file": "QUJD", "n": 1.50, "t": "caf\u00e9", "lang": "en", "logId": "x"}"#),
            policy: policy, scope: nil
        )
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self)
            == "{\"file\":\"sha256:b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78\",\"n\":1.5,\"t\":\"caf\u{e9}\"}")
        #expect(policy.configHash == "c975c0eecc4e115a6f09dbeaa1b213efe5c5b9c461834957574590ad89507c2c")
        #expect(request.key.hex == "8d9d396d015b8c5c5295592045d17cbfcc0d41aaab8fb1d2c8dc026a05b7c82c")
        let ruled = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", fieldTextRules: ["q": TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true)]
        )
        #expect(ruled.configHash == "031988fcc4aee98b3b71745cc973124e75d8fc531ad3b0652c76a30b18395d74")
    }

    /// Pins the image content digests of scheme version 2 (they do not depend on the zlib encoder).
    @Test func imageDigestsOfVersionTwoAreStable() throws {
        let png = try fileDigest(gradientImage(width: 4, height: 3).encode())
        let jpeg = try fileDigest(fixture("base-q90.jpg"))
        #expect(png == "png-pixels-sha256:0e80da5f68a888fbbcbb2e0e3c0451e16ab03ae34471170ba1a4e6adc33c76ed")
        #expect(jpeg == "jpeg-scan-sha256:20c5430d7f86d6325b45650298b5a5b5563500e84001321fd6f364cc38f768a9")
    }
}
