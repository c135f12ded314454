import Foundation
import Hummingbird

/// The dashboard's own query parameters, carried from page to page: `period` (or `from` and `to`),
/// `tenant` (admin only), `lang` and `refresh`.
struct DashboardQuery: Sendable, Equatable {
    var period: String?
    var from: String?
    var to: String?
    var tenant: String?
    var lang: String
    var refresh: Bool

    init(period: String? = nil, from: String? = nil, to: String? = nil, tenant: String? = nil, lang: String = "en", refresh: Bool = false) {
        self.period = period
        self.from = from
        self.to = to
        self.tenant = tenant
        self.lang = lang
        self.refresh = refresh
    }

    init(_ request: Request, lang: String) {
        func parameter(_ name: String) -> String? {
            request.uri.queryParameters[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        }
        self.init(period: parameter("period"), from: parameter("from"), to: parameter("to"), tenant: parameter("tenant"),
                  lang: lang, refresh: parameter("refresh") == "30")
    }

    /// The parameters in a fixed order, empty ones left out.
    var items: [(String, String)] {
        var items: [(String, String)] = []
        if let period { items.append(("period", period)) }
        if let from { items.append(("from", from)) }
        if let to { items.append(("to", to)) }
        if let tenant { items.append(("tenant", tenant)) }
        items.append(("lang", lang))
        if refresh { items.append(("refresh", "30")) }
        return items
    }

    /// `path` with these parameters, percent-encoded.
    func url(_ path: String = "/dashboard") -> String {
        path + "?" + items.map { "\($0)=\(Self.encode($1))" }.joined(separator: "&")
    }

    /// A copy with `change` applied.
    func with(_ change: (inout DashboardQuery) -> Void) -> DashboardQuery {
        var copy = self
        change(&copy)
        return copy
    }

    /// Characters left as they are in a query value: RFC 3986's unreserved set.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
