import Testing

@testable import DejaCore

@Suite struct TextRuleTests {
    @Test func rulesApplyInOrder() {
        let all = TextRule(form: .nfkc, trim: true, collapseWhitespace: true, foldCase: true)
        #expect(all.apply(to: "  \u{FF21}bc\t\n  STRASSE\u{3000}Straße  ") == "abc strasse strasse")
        #expect(TextRule(trim: true).apply(to: " a  b\n") == "a  b")
        #expect(TextRule(collapseWhitespace: true).apply(to: " a \t b\n") == " a b ")
        #expect(TextRule(foldCase: true).apply(to: "ÉCOLE Ǆ") == "\u{E9}cole \u{1C6}")
        #expect(TextRule(form: .none, foldCase: true).apply(to: "ABC") == "abc")
        #expect(TextRule.nfc.apply(to: "  e\u{301}  ") == "  \u{E9}  ")
        #expect(TextRule.nfc.description == "nfc")
        #expect(all.description == "nfkc+trim+collapse+casefold")
    }

    @Test func defaultsStayConservative() throws {
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1")
        #expect(policy.defaultTextRule == .nfc)
        #expect(try key(#"{"file": "QUJD", "q": "Invoice  Total"}"#, policy) != key(#"{"file": "QUJD", "q": "invoice total"}"#, policy))
        #expect(try key(#"{"file": "QUJD", "q": " a"}"#, policy) != key(#"{"file": "QUJD", "q": "a"}"#, policy))
    }

    @Test func perFieldRulesApplyOnlyToTheirField() throws {
        let policy = TaskPolicy.paddleXOCR(
            modelName: "m", modelVersion: "1", defaults: ["lang": "en"],
            fieldTextRules: ["query": TextRule(trim: true, collapseWhitespace: true, foldCase: true), "lang": TextRule(trim: true, foldCase: true)]
        )
        #expect(try key(#"{"file": "QUJD", "query": {"q": ["  Invoice \n Total "]}}"#, policy) == key(#"{"file": "QUJD", "query": {"q": ["invoice total"]}}"#, policy))
        #expect(try key(#"{"file": "QUJD", "note": " Invoice"}"#, policy) != key(#"{"file": "QUJD", "note": "invoice"}"#, policy))
        // A default is compared after the member's rule.
        let request = try Canonicalizer().canonicalize(body: utf8(#"{"file": "QUJD", "lang": " EN ", "query": "A  B"}"#), policy: policy, scope: nil)
        #expect(request.notes.contains("dropped lang equal to its default"))
        #expect(request.notes.contains("normalised 2 strings to NFC, trimmed, case folded") == false)
        #expect(request.notes.contains("normalised 1 string to NFC, trimmed, case folded"))
        #expect(request.notes.contains("normalised 1 string to NFC, trimmed, white space collapsed, case folded"))
        #expect(String(decoding: request.canonicalBytes, as: UTF8.self).hasSuffix(#""query":"a b"}"#))
    }

    @Test func aDefaultRuleAppliesToAllText() throws {
        let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", textRule: TextRule(form: .nfkc, collapseWhitespace: true))
        #expect(policy.textNormalization == .nfkc)
        #expect(try key("{\"file\": \"QUJD\", \"a\": \"\u{FF21}  B\", \"b\": [\"x\\t\\ty\"]}", policy) == key(#"{"file": "QUJD", "a": "A B", "b": ["x y"]}"#, policy))
    }

    @Test func configHashCoversTextRules() {
        func hash(_ rule: TextRule? = nil, fields: [String: TextRule] = [:]) -> String {
            TaskPolicy(task: "t", modelName: "m", modelVersion: "1", textRule: rule, fieldTextRules: fields).configHash
        }
        let hashes = [
            hash(), hash(TextRule(trim: true)), hash(TextRule(collapseWhitespace: true)), hash(TextRule(foldCase: true)),
            hash(TextRule(form: .nfkc)), hash(fields: ["q": .nfc]), hash(fields: ["q": TextRule(trim: true)]),
            hash(fields: ["r": TextRule(trim: true)]),
        ]
        #expect(Set(hashes).count == hashes.count)
        #expect(hash(TextRule.nfc) == hash())
        #expect(TaskPolicy(task: "t", modelName: "m", modelVersion: "1", textNormalization: .nfkc).configHash == hash(TextRule(form: .nfkc)))
    }

    private func key(_ text: String, _ policy: TaskPolicy) throws -> CacheKey {
        try Canonicalizer().canonicalize(body: utf8(text), policy: policy, scope: nil).key
    }
}
