import Testing

@testable import DejaCore

/// The bounds that keep normalising a request's text linear: a per-task size for each text string and the
/// longest run of scalars that cannot start a normalisation piece.
@Suite struct TextLimitTests {
    private func canonicalize(_ body: String, _ policy: TaskPolicy) throws -> CanonicalRequest {
        try Canonicalizer().canonicalize(body: utf8(body), policy: policy, scope: nil)
    }

    private func policy(maxTextBytes: Int = TaskPolicy.defaultMaxTextBytes, rule: TextRule = .nfc) -> TaskPolicy {
        TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", textRule: rule, maxTextBytes: maxTextBytes)
    }

    @Test func theDefaultLimitIsOneMebibyte() throws {
        #expect(policy().maxTextBytes == 1 << 20)
        #expect(TaskPolicy(task: "t", modelName: "m", modelVersion: "1").maxTextBytes == 1 << 20)
        let limit = String(repeating: "\u{E9}", count: (1 << 20) / 2)
        #expect(try canonicalize(#"{"file": "QUJD", "text": "\#(limit)"}"#, policy()).canonicalForm["text"] != nil)
        let error = thrownError { _ = try canonicalize(#"{"file": "QUJD", "text": "\#(limit)x"}"#, policy()) }
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$.text")
    }

    @Test func aLongerTextIsRefusedNamingItsPathTheLimitAndTheFix() throws {
        let limited = policy(maxTextBytes: 16)
        #expect(try canonicalize(#"{"file": "QUJD", "text": "0123456789abcdef"}"#, limited).canonicalForm["text"] != nil)
        let error = thrownError { _ = try canonicalize(#"{"file": "QUJD", "text": "0123456789abcdefg"}"#, limited) }
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$.text")
        #expect(error?.message.contains("17 bytes") == true)
        #expect(error?.message.contains("limit of 16 bytes") == true)
        #expect(error?.message.contains("maxTextBytes") == true)
        #expect(error?.message.contains("0123") == false)  // never the content
        // Bytes, not characters: eight two-byte letters fit, nine do not; escapes count once unescaped.
        #expect(try canonicalize(#"{"file": "QUJD", "text": "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}"#, limited).canonicalForm["text"] != nil)
        #expect(thrownError { _ = try canonicalize(#"{"file": "QUJD", "text": "ééééééééé"}"#, limited) }?.code == .limitExceeded)
    }

    @Test func nestedStringsAreNamedByTheirFullPath() {
        let limited = policy(maxTextBytes: 4)
        let error = thrownError { _ = try canonicalize(#"{"file": "QUJD", "query": {"q": ["ok", "too long"]}}"#, limited) }
        #expect(error?.path == "$.query.q[1]")
        #expect(thrownError { _ = try canonicalize(#"{"file": "QUJD", "a b": "too long"}"#, limited) }?.path == #"$["a b"]"#)
    }

    @Test func binaryMembersAndMemberNamesAreExempt() throws {
        let limited = policy(maxTextBytes: 4)
        let request = try canonicalize(#"{"file": "QUJDREVGR0hJSktMTU5PUA==", "longer name": 1}"#, limited)
        #expect(request.canonicalForm["file"] != nil)
    }

    @Test func theLimitHoldsWhateverTheTextRule() {
        for rule in [TextRule(form: .none), TextRule(form: .none, trim: true), .nfc] {
            #expect(thrownError { _ = try canonicalize(#"{"file": "QUJD", "t": "12345"}"#, policy(maxTextBytes: 4, rule: rule)) }?.code == .limitExceeded)
        }
    }

    @Test func aRunOfMoreThanThirtyMarksIsRefusedWhenTextIsNormalised() throws {
        let thirty = "a" + String(repeating: "\u{301}\u{316}", count: 15)
        let request = try canonicalize(#"{"file": "QUJD", "text": "\#(thirty) \#(thirty)"}"#, policy())
        #expect(request.canonicalForm["text"]?.stringValue == TextNormalization.nfc.foundationNormalized(thirty + " " + thirty))
        let thirtyOne = "b" + thirty + "\u{301}"
        for rule in [TextRule.nfc, TextRule(form: .nfkc), TextRule(form: .nfkc, foldCase: true)] {
            let error = thrownError { _ = try canonicalize(#"{"file": "QUJD", "x": [{"text": "\#(thirtyOne)"}]}"#, policy(rule: rule)) }
            #expect(error?.code == .limitExceeded)
            #expect(error?.path == "$.x[0].text")
            #expect(error?.message.contains("31") == true)
            #expect(error?.message.contains("limit of 30") == true)
        }
        // Spacing vowel signs and jamo count as well: nothing in the run may start a piece.
        let signs = String(repeating: "\u{0F73}", count: 31)
        #expect(thrownError { _ = try canonicalize(#"{"file": "QUJD", "text": "\#(signs)"}"#, policy()) }?.code == .limitExceeded)
        // Without a Unicode form nothing is normalised, so nothing needs bounding.
        #expect(try canonicalize(#"{"file": "QUJD", "text": "\#(signs)"}"#, policy(rule: TextRule(form: .none, foldCase: true))).canonicalForm["text"] != nil)
    }

    @Test func configuredDefaultsAreNotBounded() throws {
        // A default comes from the operator, not a request; it is normalised whatever its shape.
        let marks = "a" + String(repeating: "\u{301}", count: 40)
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", defaults: ["t": .string(marks)], maxTextBytes: 8)
        #expect(policy.exactDefaults[ExactKey("t")] == JSONValue.string(TextNormalization.nfc.foundationNormalized(marks)).canonicalBytes())
    }

    @Test func textThatGrowsPastTheLimitOnceNormalisedIsRefused() throws {
        // U+0958 is 3 bytes; NFC decomposes it into two 3-byte scalars.
        let limited = policy(maxTextBytes: 60)
        let fits = String(repeating: "\u{0958}", count: 10)        // 30 bytes → 60
        let grows = String(repeating: "\u{0958}", count: 11)       // 33 bytes → 66
        #expect(try canonicalize(#"{"file": "QUJD", "a": "\#(fits)"}"#, limited).canonicalForm["a"] != nil)
        let error = thrownError { _ = try canonicalize(#"{"file": "QUJD", "a": "\#(grows)"}"#, limited) }
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$.a")
        #expect(error?.message.contains("grows to 66 bytes once normalised") == true)
    }

    @Test func theRequestsTextMayGrowByOneLimitInAll() throws {
        let limited = policy(maxTextBytes: 60)
        let member = String(repeating: "\u{0958}", count: 10)      // each grows by 30 bytes
        #expect(try canonicalize(#"{"file": "QUJD", "a": "\#(member)", "b": "\#(member)"}"#, limited).canonicalForm["b"] != nil)
        let error = thrownError {
            _ = try canonicalize(#"{"file": "QUJD", "a": "\#(member)", "b": "\#(member)", "c": "\#(member)"}"#, limited)
        }
        #expect(error?.code == .limitExceeded)
        #expect(error?.path == "$.c")
        #expect(error?.message.contains("90 bytes longer") == true)
    }
}

