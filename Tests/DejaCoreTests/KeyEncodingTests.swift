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
        #expect(fields.first == utf8("deja-key-v6"))
        #expect(CanonicalScheme.version == 6)
        let key = CacheKey(
            scope: "shared", task: "ocr", modelName: "PP-OCRv4", modelVersion: "4.0.0", configHash: "abc",
            canonicalForm: utf8(#"{"file":"sha256:00"}"#)
        )
        #expect(key == CacheKey(digest: KeyEncoding.digest(fields: fields)))
    }

    /// Pins scheme version 6: if this changes, the canonical form or key rules changed and
    /// `CanonicalScheme.version` must be bumped (and these values updated).
    @Test func keySchemeVersionSixIsStable() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", volatileFields: ["requestId"], defaults: ["lang": "en"]
        )
        let request = try Canonicalizer().canonicalize(
            body: utf8(#"{"file": "QUJD", "n": 1.50, "t": "caf\u00e9", "lang": "en", "logId": "x"}"#),
            policy: policy, scope: nil
        )
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self)
            == "{\"file\":\"sha256:b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78\",\"n\":1.5,\"t\":\"caf\u{e9}\"}")
        #expect(policy.configHash == "b2ac16cc450c458d38ab7f008fb5d059d35e9762865d49ae7bfb6f342b64336a")
        #expect(request.key.hex == "0b5d483405b777a47b35ef9b548ab8ff6b4d6c575122dcd9b7c634ed445737c9")
        let ruled = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0", fieldTextRules: ["q": TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true)]
        )
        #expect(ruled.configHash == "a70cb2c3630d8fee8b62f7744343bbfb0c4ae88bd8f331190997530433218047")
        let cjk = TaskPolicy.paddleXOCR(
            modelName: "PP-OCRv4", modelVersion: "4.0.0",
            fieldTextRules: ["q": TextRule(form: .nfkc, trim: true, collapseWhitespace: true, cjkSpacing: true)]
        )
        let spaced = try Canonicalizer().canonicalize(body: utf8(#"{"file": "QUJD", "q": " 怎么 退货 ？ "}"#), policy: cjk, scope: nil)
        #expect(String(decoding: spaced.canonicalBytes, as: UTF8.self).hasSuffix(#""q":"怎么退货?"}"#))
        #expect(cjk.configHash == "3cbe84d92e073dc5c1343e6ead8c7cd9410dce8eeed744bbfd1cb93bea6b3d88")
        #expect(spaced.key.hex == "eff6e6b99873b0f0acc64d9f856ad8ad68627eb159f07da8dbde94ea44135069")
    }

    /// Pins the image and PDF content digests of scheme version 6 (they do not depend on the zlib encoder).
    /// The PNG digests are those of version 4, the JPEG ones those of version 5; the PDF one is new.
    @Test func imageDigestsOfVersionSixAreStable() throws {
        let small = gradientImage(width: 4, height: 3)
        let png = try fileDigest(small.encode())
        let interlaced = try fileDigest(small.encode(interlaced: true))
        let rotatedPNG = try fileDigest(small.encode(after: [("eXIf", tiff(bigEndian: false, orientation: 6))]))
        let jpeg = try fileDigest(fixture("base-q90.jpg"))
        let rotatedJPEG = try fileDigest(fixture("pillow-exif-orientation6.jpg"))
        #expect(png == "png-pixels-sha256:e249c52ab09cb3bcdee751ae976085781b745a528e0d89857419ac4ad9022145")
        #expect(interlaced == "png-pixels-sha256:5aa48a53ace4f1b1ac08d741661cb29f4a4991e8a23f11b137bf6481fcf2913e")
        #expect(rotatedPNG == "png-pixels-sha256:24fb6237155e677b6a3b23348a23b42d673ecc4664ec32cc40807e5b2a2085ab")
        #expect(jpeg == "jpeg-dct-sha256:520800236450f3fef21221f7ac737e960ac36732a1ee9bf49c72706613695c1c")
        #expect(rotatedJPEG == "jpeg-dct-sha256:9bbd99537fc4effb1bafac3fa7e1feb4752473625596ae54ce19f110dc2403e3")
        #expect(try fileDigest(fixture("progressive-q90.jpg")) == jpeg)
        // The fallback is version 4's segment digest, unchanged: base-q90.jpg with its scan cut short.
        let base = try fixture("base-q90.jpg")
        let cut = try fileDigest(Array(base[..<(base.count - 100)]) + [0xFF, 0xD9])
        #expect(cut == "jpeg-scan-sha256:fb54cab975bbe9a2740c35839ceca9b36f5fcabc71a6ec4f8471d7dd56104fb1")
        let pdf = try fileDigest(TestPDF.twoPages().encode())
        #expect(pdf == "pdf-pages-sha256:a45a0a810e268023639e96e80192800282a5a58d5b906505e35b6719654581ae")
        #expect(try fileDigest(TestPDF.twoPages().encode(layout: .objectStreams, compress: true)) == pdf)
    }
}
