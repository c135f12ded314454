import DejaLedger
@testable import DejaServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The dashboard in-process: sign-in and its cookie, who sees what, forms from elsewhere, bad queries.
/// The browser test (tests/integration/test_dashboard.py) drives the same pages in Chromium.
@Suite struct DashboardTests {
    typealias Controller = DashboardController<DejaRequestContext>

    /// A gateway whose ledger holds `records` besides its key for tenant acme; and a key for globex.
    func gateway(_ records: (Double) -> [UsageRecord]) async throws -> (TestGateway, globex: String) {
        let gateway = try await TestGateway.make()
        let ledger = try await DejaComponents.openLedger(configuration: gateway.configuration, logger: Logger(label: "test"))
        let (_, globex) = try await ledger.createKey(tenant: "globex", name: "test")
        try await ledger.record(records(Date().timeIntervalSince1970))
        try await ledger.close()
        return (gateway, globex)
    }

    func record(_ tenant: String, _ outcome: Outcome, at time: Double, billed: Int64 = 0, status: Int = 200) -> UsageRecord {
        UsageRecord(time: time, tenant: tenant, keyID: "key_000000000000", task: "ocr", outcome: outcome,
                    meteredTokens: 10, billedTokens: billed, latencyMicros: 100, status: status, modelSeconds: 0.5)
    }

    static func cookie(_ secret: String) -> HTTPFields {
        [.cookie: "\(Controller.cookieName)=\(Controller.encodeSecret(secret))"]
    }

    static func form(_ extra: HTTPFields = [:]) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        fields.append(contentsOf: extra)
        return fields
    }

    /// The `data-value` of each `data-field` inside the element with `id`.
    static func figures(_ html: String, in id: String) -> [String: String] {
        guard let start = html.range(of: "id=\"\(id)\"") else { return [:] }
        let after = html[start.upperBound...]
        var rest = after[..<(after.range(of: "</section>")?.lowerBound ?? after.endIndex)]
        var figures: [String: String] = [:]
        while let field = rest.range(of: "data-field=\"") {
            rest = rest[field.upperBound...]
            let name = rest.prefix { $0 != "\"" }
            guard let value = rest.range(of: "data-value=\"") else { break }
            rest = rest[value.upperBound...]
            figures[String(name)] = String(rest.prefix { $0 != "\"" })
        }
        return figures
    }

    @Test func signingInKeepsTheKeyInAStrictHttpOnlyCookieNeverInTheURL() async throws {
        let (gateway, _) = try await gateway { _ in [] }
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            try await client.execute(uri: "/dashboard", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("action=\"/dashboard/login\""))
                #expect(response.headers[.contentSecurityPolicy] == DashboardTemplates.contentSecurityPolicy)
                #expect(response.headers[.cacheControl] == "no-store")
            }
            let body = ByteBuffer(string: "key=\(DashboardQuery.encode(gateway.secret))&lang=zh")
            try await client.execute(uri: "/dashboard/login", method: .post, headers: Self.form(), body: body) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/dashboard?lang=zh")
                let cookie = try #require(response.headers[.setCookie])
                #expect(cookie.hasPrefix("deja_session=\(Controller.encodeSecret(gateway.secret));"))
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=43200"] {
                    #expect(cookie.contains(attribute), "\(attribute) in \(cookie)")
                }
                #expect(!cookie.contains("Secure"))
            }
            // Behind a proxy that terminates TLS, the cookie is sent over TLS only.
            let tls = Self.form([.xForwardedProto: "https"])
            try await client.execute(uri: "/dashboard/login", method: .post, headers: tls, body: body) { response in
                #expect(response.headers[.setCookie]?.contains("Secure") == true)
            }
            try await client.execute(uri: "/dashboard/login", method: .post, headers: Self.form(),
                                     body: ByteBuffer(string: "key=wrong")) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("sign-in-failed"))
                #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/dashboard/login", method: .post, headers: Self.form(), body: ByteBuffer(string: "lang=en")) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func aTenantSeesItsOwnFiguresAndTheAdminEveryTenants() async throws {
        let (gateway, globex) = try await gateway { now in
            [
                record("acme", .miss, at: now - 60, billed: 10),
                record("acme", .hit, at: now - 50),
                record("acme", .hit, at: now - 40),
                record("acme", .error, at: now - 30, status: 502),
                record("globex", .miss, at: now - 20, billed: 10),
                // Older than the last 24 hours: only the 7-day view counts it.
                record("acme", .miss, at: now - 3 * 86_400, billed: 10),
            ]
        }
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            try await client.execute(uri: "/dashboard", method: .get, headers: Self.cookie(gateway.secret)) { response in
                #expect(response.status == .ok)
                let html = String(buffer: response.body)
                let totals = Self.figures(html, in: "totals")
                #expect(totals["requests"] == "4")
                #expect(totals["billedTokens"] == "10")
                #expect(totals["savedTokens"] == "20")
                #expect(totals["errors"] == "1")
                #expect(Double(totals["hitRatio"] ?? "") == 2.0 / 3.0)
                #expect(html.contains("data-status=\"502\""))
                #expect(!html.contains("globex"))
                #expect(!html.contains("id=\"cache\"") && !html.contains("id=\"tenant\""))
            }
            try await client.execute(uri: "/dashboard?period=7d", method: .get, headers: Self.cookie(gateway.secret)) { response in
                #expect(Self.figures(String(buffer: response.body), in: "totals")["requests"] == "5")
            }
            try await client.execute(uri: "/dashboard?tenant=globex", method: .get, headers: Self.cookie(gateway.secret)) { response in
                #expect(response.status == .forbidden)
                #expect(!String(buffer: response.body).contains("data-field"))
            }
            try await client.execute(uri: "/dashboard", method: .get, headers: Self.cookie(globex)) { response in
                #expect(Self.figures(String(buffer: response.body), in: "totals")["requests"] == "1")
            }
            try await client.execute(uri: "/dashboard", method: .get, headers: Self.cookie("admin-secret")) { response in
                let html = String(buffer: response.body)
                #expect(Self.figures(html, in: "totals")["requests"] == "5")
                #expect(html.contains("<option value=\"globex\">globex</option>"))
                #expect(html.contains("id=\"cache\"") && html.contains("id=\"servers\""))
            }
            try await client.execute(uri: "/dashboard?tenant=globex", method: .get, headers: Self.cookie("admin-secret")) { response in
                #expect(Self.figures(String(buffer: response.body), in: "totals")["requests"] == "1")
            }
            // A cookie whose key no longer works shows the sign-in form, not the figures.
            try await client.execute(uri: "/dashboard", method: .get, headers: Self.cookie("revoked-or-never-was")) { response in
                #expect(String(buffer: response.body).contains("id=\"key\""))
                #expect(!String(buffer: response.body).contains("id=\"totals\""))
            }
        }
    }

    @Test func formsFromOtherSitesAndBadQueriesAreRefused() async throws {
        let (gateway, _) = try await gateway { _ in [] }
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            let body = ByteBuffer(string: "key=admin-secret")
            for extra: HTTPFields in [[.secFetchSite: "cross-site"], [.secFetchSite: "same-site"], [.origin: "https://evil.example"]] {
                try await client.execute(uri: "/dashboard/login", method: .post, headers: Self.form(extra), body: body) { response in
                    #expect(response.status == .forbidden)
                    #expect(response.headers[.setCookie] == nil)
                }
            }
            try await client.execute(uri: "/dashboard/login", method: .post, headers: Self.form([.secFetchSite: "same-origin"]), body: body) { response in
                #expect(response.status == .seeOther)
            }
            for (uri, field) in [("/dashboard?period=1y", "period"), ("/dashboard?from=2026-13-01&to=2026-12-01", "from"),
                                 ("/dashboard?from=2026-12-02&to=2026-12-01", "from")] {
                try await client.execute(uri: uri, method: .get, headers: Self.cookie("admin-secret")) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains("&#39;\(field)&#39;"))  // the message, HTML-escaped
                }
            }
            try await client.execute(uri: "/dashboard/keys/not-a-key", method: .get, headers: Self.cookie("admin-secret")) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func theKeyPageExplainsARequestAgainstTheKey() async throws {
        let (gateway, _) = try await gateway { _ in [] }
        defer { gateway.cleanUp() }
        try await gateway.test { client in
            let request = #"{"file": "aGVsbG8=", "fileType": 1}"#
            let key = try await client.execute(uri: "/admin/explain?route=/ocr&tenant=acme", method: .post,
                                               headers: [.authorization: "Bearer admin-secret"], body: ByteBuffer(string: request)) { response in
                try response.decode(RequestExplanation.self).key
            }
            let form = ByteBuffer(string: "task=ocr&tenant=acme&body=\(DashboardQuery.encode(#"{"logId": "x", "file": "data:image/png;base64,aGVsbG8="}"#))")
            try await client.execute(uri: "/dashboard/keys/\(key)/explain", method: .post,
                                     headers: Self.form(Self.cookie("admin-secret")), body: form) { response in
                #expect(response.status == .ok)
                let html = String(buffer: response.body)
                #expect(html.contains("data-same=\"true\""))
                #expect(html.contains("logId"))  // the step that dropped it
            }
            let other = ByteBuffer(string: "task=ocr&tenant=globex&body=\(DashboardQuery.encode(request))")
            try await client.execute(uri: "/dashboard/keys/\(key)/explain", method: .post,
                                     headers: Self.form(Self.cookie("admin-secret")), body: other) { response in
                #expect(String(buffer: response.body).contains("data-same=\"false\""))
            }
            // A tenant whose requests never used the key learns nothing about it.
            try await client.execute(uri: "/dashboard/keys/\(key)", method: .get, headers: Self.cookie(gateway.secret)) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func theCookieCarriesAnyKeyAndRejectsGarbage() {
        for secret in ["dk_abc-DEF_123", "an admin token; with = and ü", "x"] {
            let value = Controller.encodeSecret(secret)
            #expect(value.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(Controller.decodeSecret(value) == secret)
        }
        #expect(Controller.decodeSecret("") == nil)
        #expect(Controller.decodeSecret("%%%") == nil)
    }
}
