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
        #expect(fields.first == utf8("deja-key-v4"))
        #expect(CanonicalScheme.version == 4)
        let key = CacheKey(
            scope: "shared", task: "ocr", modelName: "PP-OCRv4", modelVersion: "4.0.0", configHash: "abc",
            canonicalForm: utf8(#"{"file":"sha256:00"}"#)
        )
        #expect(key == CacheKey(digest: KeyEncoding.digest(fields: fields)))
    }

    /// Pins scheme version 4: if this changes, the canonical form or key rules changed and
    /// `CanonicalScheme.version` must be bumped (and these values updated).
    @Test func keySchemeVersionFourIsStable() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", volatileFields: ["requestId"], defaults: ["lang": "en"]
        )
        let request = try Canonicalizer().canonicalize(
            body: utf8(#"{"file": "QUJD", "n": 1.50, "t": "caf\u00e9", "lang": "en", "logId": "x"}"#),
            policy: policy, scope: nil
        )
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self)
            == "{\"file\":\"sha256:b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78\",\"n\":1.5,\"t\":\"caf\u{e9}\"}")
        #expect(policy.configHash == "52dc0eeb3cd69ce81a2941adfcd9a61bbc6b44102533614cb8421d2a71a6d24c")
        #expect(request.key.hex == "c5c99fdb8fe57db728d486bda2f5ff3f1d1b09c07a591ed3b6315be5a0b99ea4")
        let ruled = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", fieldTextRules: ["q": TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true)]
        )
        #expect(ruled.configHash == "b90b43ae17ea4bf625b74125f84983d53f9d7a564e937845924ff1ce8d91b17f")
        let cjk = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0",
            fieldTextRules: ["q": TextRule(form: .nfkc, trim: true, collapseWhitespace: true, cjkSpacing: true)]
        )
        let spaced = try Canonicalizer().canonicalize(body: utf8(#"{"file": "QUJD", "q": " 怎么 退货 ？ "}"#), policy: cjk, scope: nil)
        #expect(String(decoding: spaced.canonicalBytes, as: UTF8.self).hasSuffix(#""q":"怎么退货?"}"#))
        #expect(cjk.configHash == "caf45e7aa440d76fc015a97b395a70a345c437d590a63a31d011ed30d4fff264")
        #expect(spaced.key.hex == "22ab18e699880296e1a7d58c7391339dffd265521281b9367848e74726f71724")
    }

    /// Pins the image content digests of scheme version 4 (they do not depend on the zlib encoder).
    @Test func imageDigestsOfVersionFourAreStable() throws {
        let small = gradientImage(width: 4, height: 3)
        let png = try fileDigest(small.encode())
        let interlaced = try fileDigest(small.encode(interlaced: true))
        let rotatedPNG = try fileDigest(small.encode(after: [("eXIf", tiff(bigEndian: false, orientation: 6))]))
        let jpeg = try fileDigest(fixture("base-q90.jpg"))
        let rotatedJPEG = try fileDigest(fixture("pillow-exif-orientation6.jpg"))
        #expect(png == "png-pixels-sha256:e249c52ab09cb3bcdee751ae976085781b745a528e0d89857419ac4ad9022145")
        #expect(interlaced == "png-pixels-sha256:5aa48a53ace4f1b1ac08d741661cb29f4a4991e8a23f11b137bf6481fcf2913e")
        #expect(rotatedPNG == "png-pixels-sha256:24fb6237155e677b6a3b23348a23b42d673ecc4664ec32cc40807e5b2a2085ab")
        #expect(jpeg == "jpeg-scan-sha256:20c5430d7f86d6325b45650298b5a5b5563500e84001321fd6f364cc38f768a9")
        #expect(rotatedJPEG == "jpeg-scan-sha256:98b829e6fd499e8870e907b92c81e1af13be9882080776db6af2adc8184cf93d")
    }
}
