import DejaLedger
import DejaServer
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every bad-input case gets a clear 4xx naming what is wrong, bills nothing, caches nothing, and the
/// server keeps serving. Where PaddleX itself refuses the body, the answer is PaddleX's (422 with its
/// validation list, or `Invalid input file`) and Deja's own words are in `x-deja-error`.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var status: Int
        /// A word the message must contain, so the client learns what to fix.
        var mentions: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "malformed JSON", body: "{\"file\": ", status: 422, mentions: "JSON"),
        Case(name: "not an object", body: "[\"file\"]", status: 422, mentions: "object"),
        Case(name: "missing file", body: "{\"fileType\": 1}", status: 422, mentions: "file"),
        Case(name: "file wrongly typed", body: "{\"file\": 123, \"fileType\": 1}", status: 422, mentions: "file"),
        Case(name: "file is an object", body: "{\"file\": {\"a\": 1}}", status: 422, mentions: "file"),
        Case(name: "invalid base64", body: "{\"file\": \"%%%%\", \"fileType\": 1}", status: 422, mentions: "base64"),
        Case(name: "duplicate key", body: "{\"file\": \"aGk=\", \"file\": \"aGk=\"}", status: 400, mentions: "file"),
        Case(name: "trailing garbage", body: "{\"file\": \"aGk=\"} x", status: 422, mentions: "JSON"),
        Case(name: "empty body", body: "", status: 422, mentions: "empty"),
        Case(name: "option wrongly typed", body: "{\"file\": \"aGk=\", \"visualize\": \"maybe\"}", status: 422, mentions: "visualize"),
    ]

    @Test(arguments: cases)
    func badBodiesAreRejectedAndNotBilled(_ badCase: Case) async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: ByteBuffer(string: badCase.body)) { response in
                #expect(response.status.code == badCase.status)
                let envelope = try response.decode(PaddleXError.self)
                #expect(envelope.errorCode == badCase.status)
                // What the client learns: the envelope's message and Deja's own words beside it.
                let said = envelope.errorMsg + " " + (response.headers[.dejaError] ?? "")
                #expect(said.lowercased().contains(badCase.mentions.lowercased()), "\(said)")
                #expect(response.headers[.dejaBilledTokens] == "0")
                #expect(response.headers[.dejaCache] == nil)
            }
            // Still serving.
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
        let rows = try await gateway.usage()
        #expect(rows.reduce(0) { $0 + $1.billedTokens } == 0)
        #expect(rows.reduce(0) { $0 + $1.errors } == (badCase.body.isEmpty ? 0 : 1))
    }

    @Test func bodyOverTheLimitIs413() async throws {
        let gateway = try await TestGateway.make(maxBodyBytes: 1024)
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            let big = "{\"file\": \"" + String(repeating: "A", count: 4096) + "\"}"
            try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: ByteBuffer(string: big)) { response in
                #expect(response.status == .contentTooLarge)
                let envelope = try response.decode(PaddleXError.self)
                #expect(envelope.errorCode == 413)
                #expect(envelope.errorMsg.contains("1024"))
            }
        }
    }

    @Test func missingUnknownAndRevokedKeysAre401() async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        let body = ByteBuffer(string: "{\"file\": \"aGk=\"}")
        try await gateway.test { client in
            try await client.execute(uri: "/ocr", method: .post, body: body) { response in
                #expect(response.status == .unauthorized)
                let decoded = try response.decode(PaddleXError.self)
                #expect(decoded.errorMsg.contains("Authorization"))
            }
            try await client.execute(uri: "/ocr", method: .post, headers: [.authorization: "Bearer dk_nope"], body: body) { response in
                #expect(response.status == .unauthorized)
                let decoded = try response.decode(PaddleXError.self)
                #expect(decoded.errorMsg.contains("unknown or revoked"))
            }
            try await client.execute(uri: "/ocr", method: .post, headers: [.authorization: "Basic abc"], body: body) { response in
                #expect(response.status == .unauthorized)
            }
        }
        // Revoke, then a new app (no remembered keys) refuses it.
        let ledger = try await DejaComponents.openLedger(configuration: gateway.configuration, logger: .init(label: "test"))
        #expect(try await ledger.revokeKey(id: gateway.keyID))
        try await ledger.close()
        try await gateway.test { client in
            try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func unknownRoutesAndMethodsGetDejasEnvelope() async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            try await client.execute(uri: "/nope", method: .post, headers: gateway.auth) { response in
                #expect(response.status == .notFound)
                let envelope = try response.decode(DejaError.self)
                #expect(envelope.error.code == "not_found")
                #expect(envelope.error.message.contains("/ocr"))
            }
        }
    }

    @Test func aDeadModelServerIs503NotBilledNotCached() async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        let body = ByteBuffer(string: "{\"file\": \"aGVsbG8gd29ybGQ=\", \"fileType\": 1}")
        try await gateway.test { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/ocr", method: .post, headers: gateway.auth, body: body) { response in
                    #expect(response.status == .serviceUnavailable)
                    let envelope = try response.decode(PaddleXError.self)
                    #expect(envelope.errorCode == 503)
                    #expect(envelope.errorMsg.contains("could not be reached"))
                    #expect(response.headers[.dejaBilledTokens] == "0")
                    #expect(response.headers[.dejaKey]?.count == 64)
                }
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                // Degraded, not unready: hits can still be answered without the model.
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("degraded"))
            }
        }
        let rows = try await gateway.usage()
        #expect(rows.reduce(0) { $0 + $1.errors } == 2)
        #expect(rows.reduce(0) { $0 + $1.billedTokens } == 0)
    }

    @Test func usageIsPrivateToTheTenant() async throws {
        let gateway = try await TestGateway.make()
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            try await client.execute(uri: "/v1/usage?tenant=someone-else", method: .get, headers: gateway.auth) { response in
                #expect(response.status == .forbidden)
                let decoded = try response.decode(DejaError.self)
                #expect(decoded.error.code == "forbidden")
            }
            try await client.execute(uri: "/v1/usage", method: .get, headers: gateway.auth) { response in
                #expect(response.status == .ok)
                let report = try response.decode(UsageReport.self)
                #expect(report.tenant == "acme")
            }
            try await client.execute(uri: "/v1/usage?tenant=someone-else", method: .get, headers: [.authorization: "Bearer admin-secret"]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/usage?from=yesterday", method: .get, headers: gateway.auth) { response in
                #expect(response.status == .badRequest)
                let decoded = try response.decode(DejaError.self)
                #expect(decoded.error.message.contains("from"))
            }
            try await client.execute(uri: "/v1/usage", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
