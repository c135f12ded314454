import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// `GET /dashboard`: what the cache saves, from the ledger, as a server-rendered page.
///
/// Sign-in takes an API key or the admin token in a form (`POST /dashboard/login`) and keeps it in a
/// session cookie — HttpOnly, SameSite=Strict, `Path=/dashboard`, Secure when the request came over TLS
/// (`X-Forwarded-Proto: https` from the proxy that terminates it) — never in a URL. Every page
/// authenticates the cookie again, so a revoked key stops working at once and any instance serves any
/// page. A tenant key sees its own tenant's figures only; the admin token sees every tenant's, one at a
/// time or all together, and the cache and model servers, which every tenant shares.
///
/// The figures are the ledger's, through the same queries as `/v1/usage`. The page needs no script: the
/// charts are inline SVG drawn here, auto-refresh is a `<meta http-equiv="refresh">`, and the
/// Content-Security-Policy forbids scripts and anything fetched from elsewhere.
struct DashboardController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let ledger: any Ledger
    let authenticator: Authenticator
    let recorder: UsageRecorder
    let adminToken: AdminToken?
    let memory: MemoryStore?
    let redis: RedisStore?
    /// `redis`, `sqlite` or `memory`: where answers persist.
    let store: String
    let maxBodyBytes: Int
    let clock: WallClock

    /// Who is looking.
    enum Viewer: Sendable, Equatable {
        case admin
        case tenant(String)
    }

    static var cookieName: String { "deja_session" }
    /// How long a sign-in lasts.
    static var sessionSeconds: Int { 12 * 3600 }
    /// Most repeated requests listed.
    static var repeatedLimit: Int { 20 }

    func addRoutes(to router: Router<Context>) {
        router.get("/dashboard") { request, _ in
            await self.page(request) { try await self.dashboard(request, viewer: $0, labels: $1) }
        }
        router.post("/dashboard/login") { request, _ in
            await self.page(request) { _, labels in try await self.login(request, labels: labels) }
        }
        router.post("/dashboard/logout") { request, _ in
            await self.page(request) { _, labels in try self.logout(request, labels: labels) }
        }
        router.get("/dashboard/keys/:key") { request, context in
            let key = context.parameters.get("key") ?? ""
            return await self.page(request) { try await self.keyPage(request, key: key, viewer: $0, labels: $1, explaining: nil) }
        }
        router.post("/dashboard/keys/:key/explain") { request, context in
            let key = context.parameters.get("key") ?? ""
            return await self.page(request) { viewer, labels in
                var request = request
                let form = try await self.form(&request, limit: self.maxBodyBytes, as: ExplainForm.self)
                return try await self.keyPage(request, key: key, viewer: viewer, labels: labels, explaining: form)
            }
        }
    }

    // MARK: Pages

    /// Runs `body` for a signed-in viewer (or `nil`), answering errors as a small HTML page with the
    /// error's status and message, and every answer with the dashboard's security headers.
    private func page(
        _ request: Request, _ body: (Viewer?, DashboardLabels) async throws -> Response
    ) async -> Response {
        let labels = DashboardLabels.choose(
            lang: request.uri.queryParameters["lang"].map(String.init), acceptLanguage: request.headers[.acceptLanguage])
        var response: Response
        do {
            if request.method == .post, !Self.isSameOrigin(request) {
                throw GatewayError(.forbidden, "the dashboard takes forms from its own pages only")
            }
            response = try await body(try await viewer(request), labels)
        } catch {
            let failure = error as? GatewayError ?? GatewayError(.internalError, "the dashboard failed", underlying: error)
            response = render(content: "<h1>\(failure.status)</h1><p class=\"error\" role=\"alert\">\(DashboardFormat.escape(failure.message))</p>"
                                  + "<p><a href=\"/dashboard?lang=\(labels.lang)\">\(DashboardFormat.escape(labels.back))</a></p>",
                              labels: labels, status: .init(code: failure.status))
        }
        Self.secure(&response.headers)
        return response
    }

    private func dashboard(_ request: Request, viewer: Viewer?, labels l: DashboardLabels) async throws -> Response {
        guard let viewer else { return loginPage(labels: l, failed: false) }
        let query = DashboardQuery(request, lang: l.lang)
        let tenant = try tenantFilter(query, viewer: viewer)
        let period = try DashboardPeriod.parse(period: query.period, from: query.from, to: query.to, now: clock.now())
        // Hits wait in a batch for a moment before they are written; the page includes them, as
        // `/v1/usage` does.
        await recorder.flush()
        let byTask = try await report(UsageQuery(tenant: tenant, from: period.from, to: period.to, groupBy: [.task]))
        let overTime = try await report(UsageQuery(tenant: tenant, from: period.from, to: period.to,
                                                   groupBy: [period.bucket == .hour ? .hour : .day]))
        let byStatus = try await report(UsageQuery(tenant: tenant, from: period.from, to: period.to, groupBy: [.task, .status]))
        let repeated: [RepeatedKey]
        do {
            repeated = try await ledger.repeatedKeys(
                RepeatedKeysQuery(tenant: tenant, from: period.from, to: period.to, limit: Self.repeatedLimit))
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not list the most repeated requests", underlying: error)
        }
        let totals = DashboardView.totalRow(UsageReport(tenant: tenant, rows: byTask).totals)
        let charts = DashboardView.charts(overTime, period: period, l)
        let periods: [(String, String)] = [("24h", l.last24h), ("7d", l.last7d), ("30d", l.last30d)]
        let view = DashboardView(
            l: l, isAdmin: viewer == .admin, tenantName: tenant ?? "", tenantValue: tenant ?? "",
            periods: periods.map { name, label in
                DashboardView.Link(href: query.with { $0.period = name; $0.from = nil; $0.to = nil }.url(), label: label,
                                   current: period.name == name)
            },
            refreshLink: query.with { $0.refresh.toggle() }.url(),
            refreshState: query.refresh ? l.refreshOn : l.refreshOff,
            langLink: query.with { $0.lang = l.otherLang }.url(),
            hidden: query.items.filter { $0.0 != "tenant" }.map { DashboardView.Hidden(name: $0.0, value: $0.1) },
            tenants: viewer == .admin ? try await tenantOptions(selected: tenant, labels: l) : [],
            from: Self.seconds(period.from), to: Self.seconds(period.to),
            periodText: "\(DashboardFormat.time(period.from)) – \(DashboardFormat.time(period.to))",
            cards: DashboardView.cards(totals, l),
            requestsChart: charts.requests.svg(), tokensChart: charts.tokens.svg(),
            requestLegend: charts.requests.series.map { .init(name: $0.name, cssClass: $0.cssClass) },
            tokenLegend: charts.tokens.series.map { .init(name: $0.name, cssClass: $0.cssClass) },
            columns: DashboardView.figures(totals, l).map(\.label),
            hasTasks: !byTask.isEmpty,
            tasks: byTask.map { DashboardView.TaskRow(name: $0.task, cells: DashboardView.figures($0, l)) },
            total: DashboardView.TaskRow(name: "", cells: DashboardView.figures(totals, l)),
            hasRepeated: !repeated.isEmpty,
            repeated: repeated.map { DashboardView.repeated($0, href: query.url("/dashboard/keys/\($0.key.hex)")) },
            hasErrors: byStatus.contains { ($0.status ?? 0) >= 400 },
            errors: DashboardView.errorKinds(byStatus, l),
            operations: viewer == .admin ? await operations(l) : nil
        )
        return render(template: "dashboard", view, labels: l, refresh: query.refresh)
    }

    /// One content key: its requests in the period, whether this instance holds its answer, and a form
    /// that explains a request body against it.
    private func keyPage(
        _ request: Request, key text: String, viewer: Viewer?, labels l: DashboardLabels, explaining form: ExplainForm?
    ) async throws -> Response {
        guard let viewer else { return loginPage(labels: l, failed: false) }
        guard let key = CacheKey(hex: text) else {
            throw GatewayError(.badRequest, "a content key is 64 hexadecimal digits, not '\(text.prefix(80))'")
        }
        let query = DashboardQuery(request, lang: l.lang)
        let tenant = try tenantFilter(query, viewer: viewer)
        // A key's page covers the last 30 days unless the link names another period.
        let period = try DashboardPeriod.parse(period: query.period ?? (query.from == nil ? "30d" : nil),
                                               from: query.from, to: query.to, now: clock.now())
        await recorder.flush()
        let stats: [RepeatedKey]
        do {
            stats = try await ledger.repeatedKeys(RepeatedKeysQuery(tenant: tenant, key: key, from: period.from, to: period.to))
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not count the key's requests", underlying: error)
        }
        // A tenant sees a key only when its own requests used it.
        if case .tenant = viewer, stats.isEmpty {
            throw GatewayError(.notFound, "none of this tenant's requests in the period used this key")
        }
        let task = tasks.first { $0.policy.task == form?.task } ?? tasks.first { $0.policy.task == stats.first?.task } ?? tasks.first
        // A tenant explains as itself; the admin names the tenant (tasks whose cache is per tenant key by it).
        let explainTenant = tenant ?? form?.tenant.flatMap { $0.isEmpty ? nil : $0 } ?? "explain"
        var explanation: KeyView.Explanation?
        var explainError: String?
        if let form, let task {
            do {
                let explained = try RequestExplanation(explaining: ByteBuffer(string: form.body), for: task, tenant: explainTenant)
                explanation = KeyView.Explanation(explained, against: key, labels: l)
            } catch let error as GatewayError {
                explainError = error.message
            }
        }
        let entry = memory?.entry(for: key)
        let view = KeyView(
            l: l, isAdmin: viewer == .admin, tenantName: tenant ?? "",
            periods: [], refreshLink: query.with { $0.refresh.toggle() }.url("/dashboard/keys/\(key.hex)"),
            refreshState: query.refresh ? l.refreshOn : l.refreshOff,
            langLink: query.with { $0.lang = l.otherLang }.url("/dashboard/keys/\(key.hex)"),
            backLink: query.url(), key: key.hex,
            from: Self.seconds(period.from), to: Self.seconds(period.to),
            periodText: "\(DashboardFormat.time(period.from)) – \(DashboardFormat.time(period.to))",
            hasStats: !stats.isEmpty,
            stats: stats.map { DashboardView.repeated($0, href: "") },
            memory: entry.map { KeyView.Memory(expires: DashboardFormat.time($0.expiresAt), size: DashboardView.bytes(Int64($0.body.readableBytes))) },
            explainAction: query.url("/dashboard/keys/\(key.hex)/explain"),
            taskOptions: tasks.map { DashboardView.Option(value: $0.policy.task, label: $0.policy.task, selected: $0.policy.task == task?.policy.task) },
            body: form?.body ?? "", explanation: explanation, explainError: explainError,
            route: task?.route ?? "/", explainTenant: explainTenant
        )
        return render(template: "key", view, labels: l, refresh: query.refresh)
    }

    func loginPage(labels l: DashboardLabels, failed: Bool) -> Response {
        let view = LoginView(l: l, failed: failed, langLink: "/dashboard?lang=\(l.otherLang)")
        return render(template: "login", view, labels: l, refresh: false, status: failed ? .unauthorized : .ok)
    }

    // MARK: Forms

    struct ExplainForm: Decodable {
        var task: String?
        var tenant: String?
        var body: String
    }

    // MARK: Parts

    private func report(_ query: UsageQuery) async throws -> [UsageRow] {
        do {
            return try await ledger.usage(query)
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not build the report", underlying: error)
        }
    }

    private func tenantOptions(selected: String?, labels l: DashboardLabels) async throws -> [DashboardView.Option] {
        let keys: [APIKeyInfo]
        do {
            keys = try await ledger.listKeys(tenant: nil)
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not list the tenants", underlying: error)
        }
        var names = Set(keys.map(\.tenant))
        if let selected { names.insert(selected) }
        return [DashboardView.Option(value: "", label: l.allTenants, selected: selected == nil)]
            + names.sorted().map { DashboardView.Option(value: $0, label: $0, selected: $0 == selected) }
    }

    /// The cache and model servers. Nothing here calls a model server: health is the monitor's last
    /// check, breakers are read in memory; Redis answers one `INFO`.
    private func operations(_ l: DashboardLabels) async -> DashboardView.Operations {
        var redisFigures: DashboardView.Operations.Redis?
        if let redis, let figures = try? await redis.capacity() {
            redisFigures = .init(limited: figures.maxMemory > 0, max: figures.maxMemory, used: figures.usedMemory,
                                 maxText: figures.maxMemory > 0 ? DashboardView.bytes(figures.maxMemory) : "no maxmemory",
                                 usedText: DashboardView.bytes(figures.usedMemory))
        }
        return DashboardView.Operations(
            memory: memory.map {
                .init(budget: $0.budget, used: $0.bytesUsed, budgetText: DashboardView.bytes(Int64($0.budget)),
                      usedText: DashboardView.bytes(Int64($0.bytesUsed)), entries: DashboardFormat.grouped(Int64($0.count)))
            },
            store: store, redis: redisFigures, servers: DashboardView.servers(tasks, l))
    }

    func form<Form: Decodable>(_ request: inout Request, limit: Int, as type: Form.Type) async throws -> Form {
        let body = try await request.collectBody(upTo: limit)
        do {
            return try URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))
        } catch {
            throw GatewayError(.badRequest, "the form is incomplete: \(error)")
        }
    }

    // MARK: Rendering

    private func render(template: String, _ view: Any, labels: DashboardLabels, refresh: Bool, status: HTTPResponse.Status = .ok) -> Response {
        let content = DashboardTemplates.library.render(view, withTemplate: template) ?? ""
        return render(content: content, labels: labels, status: status, refresh: refresh)
    }

    private func render(content: String, labels: DashboardLabels, status: HTTPResponse.Status, refresh: Bool = false) -> Response {
        let page = LayoutView(l: labels, css: DashboardTemplates.css, refresh: refresh, content: content)
        let html = DashboardTemplates.library.render(page, withTemplate: "layout") ?? ""
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// The headers every dashboard answer carries.
    static func secure(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = DashboardTemplates.contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.cacheControl] = "no-store"
        headers[.xFrameOptions] = "DENY"
    }

    static func seconds(_ value: Double) -> String { String(Int64(value)) }
}
