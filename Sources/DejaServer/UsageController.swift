import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// `GET /v1/usage`: the caller's own usage by task and day; with the admin token, any tenant's.
///
/// Query: `tenant` (admin only; omitted = every tenant), `from` and `to` as `YYYY-MM-DD` (UTC, inclusive)
/// or seconds since 1970, `groupBy` (comma-separated tenant, task, day, hour, key, status; default tenant,task,day),
/// `format` (`json`, the default, or `csv`: a line per billed record and per hourly count, see ``UsageCSV``).
struct UsageController<Context: RequestContext>: Sendable {
    let ledger: any Ledger
    let authenticator: Authenticator
    let recorder: UsageRecorder
    let adminToken: AdminToken?

    func addRoutes(to router: Router<Context>) {
        router.get("/v1/usage") { request, _ in
            try await self.usage(request)
        }
    }

    func usage(_ request: Request) async throws -> Response {
        guard let secret = TaskController<Context>.bearerToken(request.headers[.authorization]) else {
            throw GatewayError(.unauthorized, "missing API key: send the header 'Authorization: Bearer <api key or admin token>'")
        }
        let requested = request.uri.queryParameters["tenant"].map(String.init)
        let tenant: String?
        if let adminToken, adminToken.matches(secret) {
            tenant = requested
        } else if let caller = try await authenticator.authenticate(secret: secret) {
            if let requested, requested != caller.tenant {
                throw GatewayError(.forbidden, "a tenant key can read only its own usage (tenant '\(caller.tenant)'); use the admin token for others")
            }
            tenant = caller.tenant
        } else {
            throw GatewayError(.unauthorized, "unknown or revoked API key")
        }
        let from = try Self.time(request.uri.queryParameters["from"].map(String.init), name: "from", endOfDay: false)
        let to = try Self.time(request.uri.queryParameters["to"].map(String.init), name: "to", endOfDay: true)
        var groupBy = UsageQuery.defaultGroupBy
        if let text = request.uri.queryParameters["groupBy"].map(String.init), !text.isEmpty {
            guard let dimensions = UsageDimension.list(text) else {
                throw GatewayError(.badRequest, "query parameter 'groupBy' takes a comma-separated list of \(UsageDimension.names); not '\(text)'")
            }
            groupBy = dimensions
        }
        let format = request.uri.queryParameters["format"].map(String.init) ?? "json"
        guard format == "json" || format == "csv" else {
            throw GatewayError(.badRequest, "query parameter 'format' is json (a report, the default) or csv (the records); not '\(format)'")
        }
        // Hits are counted in memory for a moment before they are written; a report includes them.
        await recorder.flush()
        let query = UsageQuery(tenant: tenant, from: from, to: to, groupBy: groupBy)
        if format == "csv" {
            return Response(
                status: .ok,
                headers: [.contentType: "text/csv; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: UsageCSV.render(try await ledger.records(query), counts: try await ledger.counts(query))))
            )
        }
        let rows = try await ledger.usage(query)
        let report = UsageReport(tenant: tenant, rows: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(report)))
        )
    }

    /// Parses `YYYY-MM-DD` (start or end of that UTC day) or seconds since 1970.
    static func time(_ text: String?, name: String, endOfDay: Bool) throws -> Double? {
        guard let text, !text.isEmpty else { return nil }
        if let seconds = Double(text) { return seconds }
        guard let seconds = UsageDay.seconds(text, endOfDay: endOfDay) else {
            throw GatewayError(.badRequest, "query parameter '\(name)' must be a date YYYY-MM-DD or seconds since 1970, not '\(text)'")
        }
        return seconds
    }
}

/// The usage report: rows by tenant, task and day, with totals.
public struct UsageReport: Codable, Sendable {
    public struct Totals: Codable, Sendable {
        public var requests: Int64 = 0
        public var hits: Int64 = 0
        public var coalesced: Int64 = 0
        public var misses: Int64 = 0
        public var errors: Int64 = 0
        public var billedTokens: Int64 = 0
        public var savedTokens: Int64 = 0
        public var modelSecondsSaved: Double = 0
        public var hitRatio: Double = 0
    }

    public var tenant: String?
    public var rows: [UsageRow]
    public var totals: Totals

    public init(tenant: String?, rows: [UsageRow]) {
        self.tenant = tenant
        self.rows = rows
        var totals = Totals()
        for row in rows {
            totals.requests += row.requests
            totals.hits += row.hits
            totals.coalesced += row.coalesced
            totals.misses += row.misses
            totals.errors += row.errors
            totals.billedTokens += row.billedTokens
            totals.savedTokens += row.savedTokens
            totals.modelSecondsSaved += row.modelSecondsSaved
        }
        let answered = totals.requests - totals.errors
        totals.hitRatio = answered > 0 ? Double(totals.hits + totals.coalesced) / Double(answered) : 0
        self.totals = totals
    }
}
