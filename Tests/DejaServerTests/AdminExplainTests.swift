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
            #expect(a?.keyScheme == 3)
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
            try Canonicalizer().canonicalize(body: Array(json.utf8), policy: task.policy, scope: nil).key.hex
        }
        #expect(try key(#"{"text": "  ＡＢＣ１２３   how do I return this? "}"#) == key(#"{"text": "ABC123 how do I return this?"}"#))
        #expect(try key(#"{"text": "x", "note": "ＡＢＣ"}"#) != key(#"{"text": "x", "note": "ABC"}"#))
    }
}

import DejaCore
