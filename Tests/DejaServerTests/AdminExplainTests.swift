import DejaServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct AdminExplainTests {
    struct Explanation: Decodable {
        var key: String
        var steps: [String]
        var canonicalForm: String
        var keyScheme: Int
        var textChanges: [TextChange]
    }

    struct TextChange: Decodable {
        var path, rule, before, after: String
    }

    func explain(_ gateway: TestGateway, _ client: any TestClientProtocol, _ body: String, token: String = "admin-secret") async throws -> (HTTPResponse.Status, Explanation?) {
        try await client.execute(uri: "/admin/explain?route=/ocr", method: .post,
                                 headers: [.authorization: "Bearer \(token)"], body: ByteBuffer(string: body)) { response in
            (response.status, response.status == .ok ? try response.decode(Explanation.self) : nil)
        }
    }

    @Test func explainsTheKeyAndWhatWasIgnoredWithoutSendingAnything() async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            let plain = "{\"file\": \"aGVsbG8=\", \"fileType\": 1}"
            let (status, a) = try await explain(gateway, client, plain)
            #expect(status == .ok)
            let (_, b) = try await explain(gateway, client, "{\"logId\": \"r1\", \"file\": \"data:image/png;base64,aGVsbG8=\"}")
            #expect(a?.key == b?.key)
            #expect(a?.key.count == 64)
            #expect(b?.steps.contains { $0.contains("logId") } == true)
            #expect(b?.steps.contains { $0.contains("data URI") } == true)
            #expect(a?.canonicalForm.contains("sha256:") == true)
            #expect(a?.keyScheme == 6)
            #expect(a?.textChanges.isEmpty == true)
            let (_, c) = try await explain(gateway, client, #"{"file": "aGVsbG8=", "note": ["ok", "e\u0301"]}"#)
            // Compared byte for byte: String's == would call the two spellings of é equal.
            #expect(c?.textChanges.map { [$0.path, $0.rule] } == [["$.note[1]", "nfc"]])
            #expect(c?.textChanges.map { [Array($0.before.utf8), Array($0.after.utf8)] } == [[[0x65, 0xCC, 0x81], [0xC3, 0xA9]]])
            let (wrong, _) = try await explain(gateway, client, plain, token: gateway.secret)
            #expect(wrong == .unauthorized)
            let (bad, _) = try await explain(gateway, client, "{\"file\": 1}")
            #expect(bad == .badRequest)
        }
    }
}

@Suite struct TextRuleConfigurationTests {
    @Test func aFieldRuleFoldsFullWidthOnlyWhereDeclared() throws {
        let path = NSTemporaryDirectory() + "deja-text-\(UUID().uuidString).yaml"
        try """
            tasks:
              - name: classify
                protocol: paddlex-sentiment
                upstream: http://127.0.0.1:1/classify
                model: {name: m, version: v}
                textRules:
                  text: {form: nfkc, trim: true, collapseWhitespace: true}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let task = try DejaConfiguration.load(path: path, environment: [:]).taskRuntimes()[0]
        func key(_ json: String) throws -> String {
            try Canonicalizer().canonicalize(body: Array(json.utf8), policy: task.policy, scope: "acme").key.hex
        }
        #expect(try key(#"{"text": "  ＡＢＣ１２３   how do I return this? "}"#) == key(#"{"text": "ABC123 how do I return this?"}"#))
        #expect(try key(#"{"text": "x", "note": "ＡＢＣ"}"#) != key(#"{"text": "x", "note": "ABC"}"#))
    }

    private func load(_ yaml: String) throws -> DejaConfiguration {
        let path = NSTemporaryDirectory() + "deja-text-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try DejaConfiguration.load(path: path, environment: [:])
    }

    private func task(_ textSettings: String) -> String {
        """
        tasks:
          - name: ask
            protocol: paddlex-sentiment
            upstream: http://127.0.0.1:1/ask
            model: {name: m, version: v}
        \(textSettings)
        """
    }

    @Test func cjkSpacingIsOptInPerFieldOrForTheTask() throws {
        func key(_ policy: TaskPolicy, _ json: String) throws -> String {
            try Canonicalizer().canonicalize(body: Array(json.utf8), policy: policy, scope: "acme").key.hex
        }
        let perField = try load(task("""
                textRules:
                  text: {form: nfkc, trim: true, collapseWhitespace: true, cjkSpacing: true}
            """)).taskRuntimes()[0].policy
        #expect(perField.textRule(for: "text").description == "nfkc+trim+collapse+cjk")
        #expect(try key(perField, #"{"text": " 怎么 退货 ？ "}"#) == key(perField, #"{"text": "怎么退货?"}"#))
        #expect(try key(perField, #"{"text": "Hello  world"}"#) == key(perField, #"{"text": "Hello world"}"#))
        #expect(try key(perField, #"{"text": "Helloworld"}"#) != key(perField, #"{"text": "Hello world"}"#))
        #expect(try key(perField, #"{"text": "x", "n": "怎么 退货"}"#) != key(perField, #"{"text": "x", "n": "怎么退货"}"#))

        let forTask = try load(task("""
                textRule: {form: nfkc, cjkSpacing: true}
            """)).taskRuntimes()[0].policy
        #expect(forTask.defaultTextRule.description == "nfkc+cjk")
        #expect(try key(forTask, #"{"text": "x", "n": "iPhone 手机"}"#) == key(forTask, #"{"text": "x", "n": "iPhone手机"}"#))
        #expect(perField.configHash != forTask.configHash)

        let off = try load(task("")).taskRuntimes()[0].policy
        #expect(off.defaultTextRule == .nfc)
        #expect(try key(off, #"{"text": "怎么 退货"}"#) != key(off, #"{"text": "怎么退货"}"#))
    }

    @Test func textRuleSettingsAreChecked() {
        #expect(throws: (any Error).self) { try load(task("    textRules: {text: {cjk: true}}")) }
        #expect(throws: (any Error).self) { try load(task("    textRule: {form: nfkc}\n    textNormalization: nfc")) }
        #expect(throws: (any Error).self) { try load(task("    textRule: {form: nfd}")).taskRuntimes() }
    }
}

import DejaCore
