import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// `POST /admin/warm` (admin token): loads stored answers into this instance's memory, sealed, ahead of
/// their requests — the keys named in the body, or the ledger's most repeated ones.
///
/// Body: `{"keys": ["<64 hex>", …]}`, or `{"top": N, "sinceSeconds": S, "task": "ocr"}` (the N content
/// keys asked for most often in the last S seconds, of one task or all). Answers what happened to them:
/// `{"requested", "loaded", "bytes", "alreadyInMemory", "notStored", "overBudget", "preloadedEntries",
/// "preloadedBytes"}`. An answer no longer stored cannot be warmed from its key: its request is needed
/// (`deja warm --jsonl`).
struct WarmController<Context: RequestContext>: Sendable {
    let store: TieredStore?
    let ledger: any Ledger
    let tasks: [TaskRuntime]
    let budget: Int
    let adminToken: AdminToken?
    let clock: WallClock

    /// The most keys one request may name or ask for.
    static var maxKeys: Int { 100_000 }

    func addRoutes(to router: Router<Context>) {
        router.post("/admin/warm") { request, context in
            try await self.warm(request, context: context)
        }
    }

    struct WarmRequest: Decodable {
        var keys: [String]?
        var top: Int?
        var sinceSeconds: Double?
        var task: String?
    }

    struct WarmReport: Encodable {
        var requested, loaded, bytes, alreadyInMemory, notStored, overBudget: Int
        var preloadedEntries, preloadedBytes: Int
    }

    func warm(_ request: Request, context: Context) async throws -> Response {
        try AdminToken.authorize(request, token: adminToken)
        guard let store else {
            throw GatewayError(.badRequest, "nothing to warm from: the cache has no persistent tier (storage.persistent is off and storage.cache is unset)")
        }
        guard budget > 0 else {
            throw GatewayError(.badRequest, "warming memory is off: storage.preloadBytes is 0")
        }
        var request = request
        let body = try await request.collectBody(upTo: 8 << 20)
        let asked: WarmRequest
        do {
            asked = try JSONDecoder().decode(WarmRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw GatewayError(.badRequest, "the body must be {\"keys\": [hex, …]} or {\"top\": N, \"sinceSeconds\": S, \"task\": name}")
        }
        let keys = try await keys(for: asked)
        let report = try await store.load(keys, budget: budget)
        let answer = WarmReport(
            requested: report.requested, loaded: report.loaded, bytes: report.bytes, alreadyInMemory: report.alreadyInMemory,
            notStored: report.notStored, overBudget: report.overBudget,
            preloadedEntries: store.preloadedEntries, preloadedBytes: store.preloadedBytes
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(answer))))
    }

    private func keys(for asked: WarmRequest) async throws -> [CacheKey] {
        switch (asked.keys, asked.top) {
        case (let hexes?, nil):
            guard hexes.count <= Self.maxKeys else { throw GatewayError(.badRequest, "keys: at most \(Self.maxKeys)") }
            return try hexes.enumerated().map { index, hex in
                guard let key = CacheKey(hex: hex) else { throw GatewayError(.badRequest, "keys[\(index)]: not a content key (64 hex digits)") }
                return key
            }
        case (nil, let top?):
            guard (1...Self.maxKeys).contains(top) else { throw GatewayError(.badRequest, "top: between 1 and \(Self.maxKeys)") }
            let since = asked.sinceSeconds ?? 86_400
            guard since > 0, since.isFinite else { throw GatewayError(.badRequest, "sinceSeconds: a positive number of seconds") }
            var task: String?
            if let name = asked.task {
                guard let runtime = tasks.first(where: { $0.policy.task == name || $0.route == name }) else {
                    throw GatewayError(.badRequest, "task: no task '\(name)'; configured: \(tasks.map(\.policy.task).joined(separator: ", "))")
                }
                task = runtime.policy.task
            }
            let repeated = try await ledger.repeatedKeys(RepeatedKeysQuery(task: task, from: clock.now() - since, limit: top))
            return repeated.map(\.key)
        default:
            throw GatewayError(.badRequest, "give either keys or top")
        }
    }
}
