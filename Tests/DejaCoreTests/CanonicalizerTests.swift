import Foundation
import Testing

@testable import DejaCore

@Suite struct CanonicalizerTests {
    static let image: [UInt8] = {
        var generator = SeededGenerator(seed: 1)
        return (0..<301).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }()
    static let base64 = Data(image).base64EncodedString()

    static let policy = TaskPolicy.paddleXOCR(
        modelName: "PP-OCRv4", modelVersion: "4.0.0", volatileFields: ["requestId"],
        defaults: ["textDetThresh": 1, "useDocUnwarping": false, "lang": "en"]
    )

    func canonicalize(_ text: String, policy: TaskPolicy = Self.policy, tenant: String? = nil) throws -> CanonicalRequest {
        try Canonicalizer().canonicalize(body: utf8(text), policy: policy, scope: tenant)
    }

    func error(_ text: String, policy: TaskPolicy = Self.policy, tenant: String? = nil) -> CanonicalError? {
        thrownError { _ = try Canonicalizer().canonicalize(body: utf8(text), policy: policy, scope: tenant) }
    }

    func key(_ text: String, policy: TaskPolicy = Self.policy, tenant: String? = nil) throws -> CacheKey {
        try canonicalize(text, policy: policy, tenant: tenant).key
    }

    // MARK: Same request, same key

    @Test func keyOrderWhiteSpaceAndEscapesDoNotMatter() throws {
        let a = try key(#"{"file": "\#(Self.base64)", "fileType": 1, "textRecScoreThresh": 0.5}"#)
        let b = try key("{\n  \"textRecScoreThresh\" : 5E-1,\n  \"\\u0066ile\" : \"\(Self.base64)\",\"fileType\":1.0\n}")
        #expect(a == b)
    }

    @Test func volatileFieldsAreDropped() throws {
        let plain = try canonicalize(#"{"file": "\#(Self.base64)", "fileType": 1}"#)
        let noisy = try canonicalize(#"{"requestId": "r-1", "file": "\#(Self.base64)", "logId": "abc", "fileType": 1}"#)
        #expect(plain.key == noisy.key)
        #expect(noisy.notes.contains("dropped volatile field requestId"))
        #expect(noisy.notes.contains("dropped volatile field logId"))
        #expect(try JSONValue(parsing: noisy.forwardBody)["logId"] == nil)
        #expect(try JSONValue(parsing: noisy.forwardBody)["requestId"] == nil)
    }

    @Test func logIdIsVolatileEvenWhenNotConfigured() throws {
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1")
        #expect(policy.volatileFields == ["logId"])
        #expect(try key(#"{"file": "QUJD", "logId": "1"}"#, policy: policy) == key(#"{"file": "QUJD", "logId": "2"}"#, policy: policy))
    }

    @Test func defaultsAndNullsAreDroppedFromTheKeyAndSentExplicitly() throws {
        let bare = try canonicalize(#"{"file": "\#(Self.base64)"}"#)
        let explicit = try canonicalize(
            #"{"file": "\#(Self.base64)", "textDetThresh": 1.0, "useDocUnwarping": false, "lang": "en", "textRecScoreThresh": null}"#
        )
        #expect(bare.key == explicit.key)
        #expect(explicit.notes.contains("dropped textDetThresh equal to its default"))
        #expect(explicit.notes.contains("dropped textRecScoreThresh: null means its default"))
        // The model is told every declared default, whether the request spelled it, left it out or sent null:
        // it computes what the key says even where its own defaults differ.
        #expect(explicit.forwardBody == bare.forwardBody)
        #expect(String(decoding: bare.forwardBody, as: UTF8.self)
            == #"{"file":"\#(Self.base64)","lang":"en","textDetThresh":1,"useDocUnwarping":false}"#)
        #expect(try key(#"{"file": "\#(Self.base64)", "textDetThresh": 1.5}"#) != bare.key)
        #expect(try key(#"{"file": "\#(Self.base64)", "useDocUnwarping": true}"#) != bare.key)
    }

    @Test func stringsAreNormalisedToNFC() throws {
        let composed = try canonicalize("{\"file\": \"QUJD\", \"text\": \"caf\u{e9}\", \"o\": {\"l\": [\"\u{e9}\"]}}")
        let decomposed = try canonicalize("{\"file\": \"QUJD\", \"text\": \"cafe\u{301}\", \"o\": {\"l\": [\"e\\u0301\"]}}")
        #expect(composed.key == decomposed.key)
        #expect(decomposed.notes.contains("normalised 2 strings to NFC"))
        #expect(composed.notes.allSatisfy { !$0.contains("normalised") })
        let none = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "4.0.0", textNormalization: .none)
        #expect(try key("{\"file\": \"QUJD\", \"t\": \"\u{e9}\"}", policy: none) != key("{\"file\": \"QUJD\", \"t\": \"e\u{301}\"}", policy: none))
    }

    @Test func fullWidthFormsAreEqualOnlyUnderNFKC() throws {
        let wide = "{\"file\": \"QUJD\", \"t\": \"\u{FF21}\u{FF22}\u{FF23}\u{FF11}\u{FF12}\u{FF13}\"}"
        let narrow = #"{"file": "QUJD", "t": "ABC123"}"#
        let nfkc = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", textNormalization: .nfkc)
        let nfc = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", textNormalization: .nfc)
        #expect(try key(wide, policy: nfkc) == key(narrow, policy: nfkc))
        #expect(try key(wide, policy: nfc) != key(narrow, policy: nfc))
    }

    @Test func memberNamesAreNotNormalised() throws {
        #expect(try key("{\"file\": \"QUJD\", \"\u{e9}\": 1}") != key("{\"file\": \"QUJD\", \"e\u{301}\": 1}"))
    }

    @Test func base64SpellingsShareAKey() throws {
        let standard = Self.base64
        #expect(standard.contains("+") && standard.contains("/") && standard.hasSuffix("="))
        let mime = Data(Self.image).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let spaced = standard.enumerated().map { $0.offset % 10 == 9 ? " \($0.element)" : String($0.element) }.joined() + "\n"
        let unpadded = String(standard.prefix { $0 != "=" })
        let url = unpadded.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let variants = [
            standard, mime, spaced, unpadded, url, url + "==", "data:image/png;base64," + standard,
            "DATA:image/png;name=x.png;BASE64," + mime, "data:;base64," + url,
        ]
        let reference = try canonicalize(#"{"file": "\#(standard)"}"#)
        let digest = try #require(reference.canonicalForm["file"]?.stringValue)
        #expect(digest.hasPrefix("sha256:") && digest.utf8.count == 71)
        #expect(reference.notes.isEmpty)
        #expect(reference.binaryBytes == Self.image.count)
        for variant in variants {
            let escaped = variant.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
            let request = try canonicalize(#"{"file": "\#(escaped)"}"#)
            #expect(request.key == reference.key, "\(variant.prefix(30))")
            #expect(request.canonicalForm == reference.canonicalForm)
            #expect(request.forwardBody == reference.forwardBody)
        }
        #expect(try JSONValue(parsing: reference.forwardBody)["file"]?.stringValue == standard)
    }

    @Test func base64NotesSayWhatChanged() throws {
        let mime = Data(Self.image).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
            .replacingOccurrences(of: "\r\n", with: "\\r\\n")
        #expect(try canonicalize(#"{"file": "\#(mime)"}"#).notes == ["file: MIME line breaks removed"])
        #expect(try canonicalize(#"{"file": "data:image/png;base64,\#(Self.base64)"}"#).notes == ["file: data URI prefix removed (image/png)"])
        let url = String(Self.base64.prefix { $0 != "=" }).replacingOccurrences(of: "+", with: "-")
        #expect(try canonicalize(#"{"file": "\#(url)"}"#).notes == [
            "file: base64url alphabet converted to standard base64", "file: base64 padding added",
        ])
    }

    @Test func differentImageBytesGiveDifferentKeys() throws {
        var other = Self.image
        other[150] ^= 0x01
        let a = try key(#"{"file": "\#(Self.base64)"}"#)
        let b = try key(#"{"file": "\#(Data(other).base64EncodedString())"}"#)
        #expect(a != b)
    }

    @Test func urlsAreKeyedOnTheirText() throws {
        let request = try canonicalize(#"{"file": "https://example.com/a.png", "fileType": 1}"#)
        #expect(request.canonicalForm["file"] == "https://example.com/a.png")
        #expect(try JSONValue(parsing: request.forwardBody)["file"] == "https://example.com/a.png")
        #expect(request.notes == ["file: URL kept as is (keyed on the URL text, not the content behind it)"])
        #expect(try key(#"{"file": "HTTP://example.com/a.png"}"#) != key(#"{"file": "http://example.com/a.png"}"#))
        #expect(try key(#"{"file": "https://example.com/b.png", "fileType": 1}"#) != request.key)
    }

    // MARK: Rejections

    @Test func invalidBase64NamesTheField() {
        for bad in ["abc$", "QUJD=QUJD", "QUJDR", "QUJD===", "=", "data:image/png,QUJD", "data:image/png;base64", "", "===="] {
            let error = error(#"{"file": "\#(bad)"}"#)
            #expect(error?.code == .invalidBase64, "\(bad)")
            #expect(error?.path == "$.file")
        }
        let described = error(#"{"file": "SECRETDATA$"}"#).map(String.init(describing:)) ?? ""
        #expect(described.hasPrefix("$.file: not valid base64"))
        #expect(!described.contains("SECRET"))
    }

    @Test func binaryFieldsMustBeStrings() {
        for value in ["5", "true", "[]", #"{"a": "QUJD"}"#] {
            let error = error(#"{"file": \#(value)}"#)
            #expect(error?.code == .wrongType)
            #expect(error?.path == "$.file")
        }
    }

    @Test func requiredFieldsMustBePresent() {
        for body in [#"{"fileType": 1}"#, #"{"file": null}"#, "{}"] {
            let error = error(body)
            #expect(error?.code == .missingField)
            #expect(error?.path == "$.file")
        }
    }

    @Test func bodyMustBeANonEmptyJSONObject() {
        #expect(error("")?.code == .emptyBody)
        #expect(error(" \n")?.path == "$")
        for body in ["[1]", "\"file\"", "1", "null"] {
            #expect(error(body)?.code == .notAnObject)
            #expect(error(body)?.path == "$")
        }
        #expect(error(#"{"file": "QUJD"} x"#)?.code == .invalidJSON)
        #expect(error(#"{"file": "QUJD", "\u0066ile": "QUJD"}"#)?.code == .duplicateKey)
        #expect(error(#"{"file": "QUJD", "o": ["\ud800"]}"#)?.path == "$.o[0]")
    }

    @Test func tenantScopeNeedsATenant() throws {
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", scope: .tenant)
        #expect(error(#"{"file": "QUJD"}"#, policy: policy)?.code == .missingTenant)
        #expect(try canonicalize(#"{"file": "QUJD"}"#, policy: policy, tenant: "acme").scope == "tenant:acme")
        #expect(try canonicalize(#"{"file": "QUJD"}"#, tenant: "acme").scope == "shared")
    }

    // MARK: Different requests, different keys

    @Test func everyKeyFieldSeparatesKeys() throws {
        let body = #"{"file": "\#(Self.base64)", "fileType": 1}"#
        func policy(
            task: String = "ocr", model: String = "PP-OCRv4", version: String = "4.0.0", scope: CacheScope = .shared,
            volatile: Set<String> = [], defaults: [String: JSONValue] = [:], normalization: TextNormalization = .nfc
        ) -> TaskPolicy {
            TaskPolicy.paddleXOCR(
                task: task, modelName: model, modelVersion: version, scope: scope, volatileFields: volatile,
                defaults: defaults, textNormalization: normalization
            )
        }
        let tenantScoped = policy(scope: .tenant)
        let keys = try [
            key(body, policy: policy()),
            key(#"{"file": "\#(Self.base64)", "fileType": 0}"#, policy: policy()),
            key(body, policy: policy(task: "ocr2")),
            key(body, policy: policy(model: "PP-OCRv5")),
            key(body, policy: policy(version: "4.0.1")),
            key(body, policy: tenantScoped, tenant: "a"),
            key(body, policy: tenantScoped, tenant: "b"),
            key(body, policy: policy(volatile: ["requestId"])),
            key(body, policy: policy(defaults: ["lang": "en"])),
            key(body, policy: policy(normalization: .nfkc)),
        ]
        #expect(Set(keys).count == keys.count)
    }

    @Test func forwardBodyIsCanonicalJSON() throws {
        let request = try canonicalize(
            #"{"z": [1.0, "x"], "file": "data:image/png;base64,\#(Self.base64)", "logId": "9", "lang": "en", "a": 2}"#
        )
        #expect(String(decoding: request.forwardBody, as: UTF8.self)
            == #"{"a":2,"file":"\#(Self.base64)","lang":"en","textDetThresh":1,"useDocUnwarping":false,"z":[1,"x"]}"#)
        #expect(request.canonicalForm.objectValue?.map(\.key) == ["a", "file", "z"])
        #expect(request.canonicalBytes == request.canonicalForm.canonicalBytes())
    }

    @Test func canonicalizesByteBuffersAndDocumentsAlike() throws {
        let text = #"{"file": "QUJD", "x": 1}"#
        let fromBytes = try canonicalize(text)
        let fromBuffer = try Canonicalizer().canonicalize(body: .init(string: text), policy: Self.policy, scope: nil)
        let fromDocument = try Canonicalizer().canonicalize(document: parse(text), policy: Self.policy, scope: nil)
        #expect(fromBytes.key == fromBuffer.key)
        #expect(fromBytes.key == fromDocument.key)
    }

    @Test func largeImagesCanonicalizeQuickly() throws {
        var generator = SeededGenerator(seed: 3)
        let image = (0..<3_000_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let encoded = Data(image).base64EncodedString(options: .lineLength76Characters)
        let body = utf8(#"{"file": ""#) + utf8(encoded.replacingOccurrences(of: "\r\n", with: "\\r\\n")) + utf8(#""}"#)
        let request = try Canonicalizer().canonicalize(body: body, policy: Self.policy, scope: nil)
        #expect(request.binaryBytes == image.count)
        #expect(try JSONValue(parsing: request.forwardBody)["file"]?.stringValue == Data(image).base64EncodedString())
    }
}
