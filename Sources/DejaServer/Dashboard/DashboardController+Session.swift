import DejaGateway
import Foundation
import HTTPTypes
import Hummingbird

/// Sign-in: the form, the session cookie that keeps the key, who the cookie names, and the checks on
/// where a form came from. See ``DashboardController`` for what a viewer sees.
extension DashboardController {
    struct LoginForm: Decodable {
        var key: String
        var lang: String?
    }

    func login(_ request: Request, labels: DashboardLabels) async throws -> Response {
        var request = request
        let form = try await form(&request, limit: 16 << 10, as: LoginForm.self)
        let labels = form.lang.map { DashboardLabels.choose(lang: $0, acceptLanguage: nil) } ?? labels
        let secret = form.key.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, try await viewer(secret: secret) != nil else {
            var response = loginPage(labels: labels, failed: true)
            response.setCookie(Self.cookie(value: "", maxAge: 0, secure: Self.cameOverTLS(request)))
            return response
        }
        var response = Response(status: .seeOther, headers: [.location: "/dashboard?lang=\(labels.lang)"])
        response.setCookie(Self.cookie(value: Self.encodeSecret(secret), maxAge: Self.sessionSeconds, secure: Self.cameOverTLS(request)))
        return response
    }

    func logout(_ request: Request, labels: DashboardLabels) throws -> Response {
        var response = Response(status: .seeOther, headers: [.location: "/dashboard?lang=\(labels.lang)"])
        response.setCookie(Self.cookie(value: "", maxAge: 0, secure: Self.cameOverTLS(request)))
        return response
    }

    /// The viewer the session cookie names; `nil` without a cookie or with one whose key no longer works.
    func viewer(_ request: Request) async throws -> Viewer? {
        guard let value = request.cookies[Self.cookieName]?.value, let secret = Self.decodeSecret(value) else { return nil }
        return try await viewer(secret: secret)
    }

    func viewer(secret: String) async throws -> Viewer? {
        if let adminToken, adminToken.matches(secret) { return .admin }
        do {
            return try await authenticator.authenticate(secret: secret).map { .tenant($0.tenant) }
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not check the key", underlying: error)
        }
    }

    /// The tenant whose figures the page shows: the viewer's own, or for the admin the one asked for
    /// (`nil`: every tenant).
    func tenantFilter(_ query: DashboardQuery, viewer: Viewer) throws -> String? {
        switch viewer {
        case .admin:
            return query.tenant
        case .tenant(let own):
            if let asked = query.tenant, asked != own {
                throw GatewayError(.forbidden, "a tenant key shows only its own tenant's figures; sign in with the admin token for others")
            }
            return own
        }
    }

    /// Whether a form post came from the dashboard's own pages: a browser's `Sec-Fetch-Site` says so,
    /// or else the `Origin` names the host the request was sent to. Requests with neither header (not
    /// from a browser) pass; the SameSite=Strict cookie already keeps other sites' posts signed out.
    static func isSameOrigin(_ request: Request) -> Bool {
        if let site = request.headers[.secFetchSite] {
            return site == "same-origin" || site == "none"
        }
        guard let origin = request.headers[.origin] else { return true }
        guard let host = request.head.authority else { return false }
        return URL(string: origin)?.host.map { originHost in
            let port = URL(string: origin)?.port.map { ":\($0)" } ?? ""
            return originHost + port == host
        } ?? false
    }

    static func cameOverTLS(_ request: Request) -> Bool {
        request.head.scheme == "https" || request.headers[.xForwardedProto]?.lowercased() == "https"
    }

    static func cookie(value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: cookieName, value: value, maxAge: maxAge, path: "/dashboard", secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// The key as a cookie value: base64url without padding, whatever characters the key has.
    static func encodeSecret(_ secret: String) -> String {
        Data(secret.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decodeSecret(_ value: String) -> String? {
        var text = value.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text), !data.isEmpty else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
