import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// Endpoints under `/admin/`, for the admin token only.
///
/// `POST /admin/explain?route=/ocr[&tenant=T]` with a request body: the canonical form, each step that
/// changed something, each string a text rule changed (before and after) and the content key — what
/// `deja explain` prints — without sending anything.
///
/// `POST /admin/keys/<id>/revoke`: revokes an API key in the ledger and stops every instance from
/// accepting it at once (``KeyRevocations``).
///
/// `POST /admin/purge` with a JSON filter (``PurgeRequest``): removes matching answers from every layer
/// and every instance's memory (``CachePurger``) and answers the counts.
///
/// `GET /admin/capacity`: the ``CapacityReport``.
struct AdminController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let adminToken: AdminToken?
    let maxBodyBytes: Int
    let ledger: any Ledger
    let revocations: KeyRevocations
    let purger: CachePurger
    let clock: WallClock

    func addRoutes(to router: Router<Context>) {
        router.post("/admin/explain") { request, _ in
            try await self.explain(request)
        }
        router.post("/admin/keys/:id/revoke") { request, context in
            try await self.revoke(request, id: context.parameters.require("id"))
        }
        router.post("/admin/purge") { request, _ in
            try await self.purge(request)
        }
        router.get("/admin/capacity") { request, _ in
            try await self.capacity(request)
        }
    }

    /// Throws unless the request carries the admin token.
    private func authorize(_ request: Request) throws {
        try AdminToken.authorize(request, token: adminToken)
    }

    func revoke(_ request: Request, id: String) async throws -> Response {
        try authorize(request)
        guard try await ledger.revokeKey(id: id) else {
            throw GatewayError(.notFound, "no API key with id '\(id)'; 'deja keys list' shows them")
        }
        await revocations.announce(keyID: id)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"id":"\#(id)","revoked":true}"#)))
    }

    func purge(_ request: Request) async throws -> Response {
        try authorize(request)
        var request = request
        let body = try await request.collectBody(upTo: 64 << 10)
        let filter = try PurgeRequest.filter(body: Array(buffer: body), tasks: tasks.map(\.policy.task), now: clock.now())
        return try json(try await purger.purge(filter))
    }

    func capacity(_ request: Request) async throws -> Response {
        try authorize(request)
        let now = clock.now()
        let usage: [UsageRow]
        do {
            usage = try await ledger.usage(UsageQuery(from: now - 3600, groupBy: [.task]))
        } catch {
            throw GatewayError(.ledgerUnavailable, "the ledger could not report the last hour's hits", underlying: error)
        }
        let names = tasks.map(\.policy.task)
        let memoryCharges = purger.memory?.chargesByTask()
        var report = CapacityReport(store: purger.redis != nil ? "redis" : purger.sqlite != nil ? "sqlite" : "memory", tasks: [])
        let stored: [TaskCacheUsage]
        do {
            (stored, report.redis) = try await storedFigures(names)
        } catch {
            throw GatewayError(.internalError, "the cache could not report its sizes (\(error.message))", status: 503, underlying: error)
        }
        for name in names {
            let row = usage.first { $0.task == name }
            report.tasks.append(.init(
                task: name,
                memory: memoryCharges.map { TaskCacheUsage(task: name, entries: $0[name]?.count ?? 0, sizes: $0[name] ?? []) },
                store: report.store == "memory" ? nil : stored.first { $0.task == name } ?? TaskCacheUsage(task: name, entries: 0, sizes: []),
                requestsLastHour: row?.requests ?? 0, hitRatioLastHour: row?.hitRatio ?? 0))
        }
        if let memory = purger.memory {
            report.memory = .init(budgetBytes: Int64(memory.budget), usedBytes: Int64(memory.bytesUsed), entries: memory.count)
        }
        return try json(report)
    }

    /// Per task sizes from the persistent store, and Redis's figures when it is Redis.
    private func storedFigures(_ names: [String]) async throws(CacheStoreError) -> ([TaskCacheUsage], CapacityReport.Redis?) {
        if let redis = purger.redis {
            let figures = try await redis.capacity()
            let overhead = try await redis.perKeyOverhead()
            return (try await redis.usageByTask(names), CapacityReport.Redis(
                usedMemory: figures.usedMemory, maxMemory: figures.maxMemory, evictedKeys: figures.evictedKeys,
                perKeyOverheadBytes: overhead, indexMemberBytes: CapacityReport.indexMemberAllowance))
        }
        return (try await purger.sqlite?.usageByTask() ?? [], nil)
    }

    private func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    func explain(_ request: Request) async throws -> Response {
        try authorize(request)
        let route = request.uri.queryParameters["route"].map(String.init) ?? tasks.first?.route ?? ""
        guard let task = tasks.first(where: { $0.route == route || $0.policy.task == route }) else {
            throw GatewayError(.notFound, "no task with route or name '\(route)'; configured: \(tasks.map(\.route).joined(separator: ", "))")
        }
        let tenant = request.uri.queryParameters["tenant"].map(String.init) ?? "explain"
        var request = request
        let body = try await request.collectBody(upTo: maxBodyBytes)
        return try json(try RequestExplanation(explaining: body, for: task, tenant: tenant))
    }
}
