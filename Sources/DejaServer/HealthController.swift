import DejaCache
import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// `GET /healthz` (the process is alive) and `GET /readyz` (its dependencies answer).
struct HealthController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let ledger: any Ledger
    let upstream: UpstreamClient
    let redis: RedisStore?

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            Self.json(.ok, ["status": "alive"])
        }
        router.get("/readyz") { _, _ in
            await self.readiness()
        }
    }

    func readiness() async -> Response {
        // Not ready only when answers cannot be billed (ledger down). A dead model server or cache
        // makes the instance degraded, not unready: it still answers hits, or goes to the model.
        var checks: [String: String] = [:]
        var ready = true
        var degraded = false
        do {
            _ = try await ledger.authenticate(secret: "readiness-probe")
            checks["ledger"] = "ok"
        } catch {
            checks["ledger"] = "unavailable"
            ready = false
        }
        if let redis {
            do {
                _ = try await redis.capacity()
                checks["cache"] = "ok"
            } catch {
                checks["cache"] = redis.breaker.state == .open ? "circuit open" : "unavailable"
                degraded = true
            }
        }
        await withTaskGroup(of: (String, String).self) { group in
            for (groupName, pool) in tasks.flatMap(\.modelServerGroups) {
                let members = pool.members
                for (index, server) in members.enumerated() {
                    // One model server: `upstream.<task>`; several: `upstream.<task>.<n>`, counted from 1; a
                    // gray release's candidate's: `upstream.<task>.candidate[.<n>]`.
                    let name = members.count == 1 ? "upstream.\(groupName)" : "upstream.\(groupName).\(index + 1)"
                    group.addTask {
                        // A breaker that stopped calls says more than a health check that passes.
                        switch server.breaker.state {
                        case .open: return (name, "circuit open")
                        case .halfOpen: return (name, "circuit half-open")
                        case .closed: break
                        }
                        guard let url = server.healthURL else { return (name, "ok") }
                        do {
                            let reply = try await upstream.get(url: url, timeout: .seconds(2))
                            return (name, reply.status == 200 ? "ok" : "status \(reply.status)")
                        } catch {
                            return (name, "unreachable")
                        }
                    }
                }
            }
            for await (name, state) in group {
                checks[name] = state
                if state != "ok" { degraded = true }
            }
        }
        var body: [String: Any] = ["status": !ready ? "not ready" : degraded ? "degraded" : "ready"]
        body["checks"] = checks
        return Self.json(ready ? .ok : .serviceUnavailable, body)
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
