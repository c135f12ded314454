import DejaGateway
import DejaLedger
import Foundation
import Hummingbird

/// `GET /healthz` (the process is alive) and `GET /readyz` (its dependencies answer).
struct HealthController<Context: RequestContext>: Sendable {
    let tasks: [TaskRuntime]
    let ledger: any Ledger
    let upstream: UpstreamClient

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            Self.json(.ok, ["status": "alive"])
        }
        router.get("/readyz") { _, _ in
            await self.readiness()
        }
    }

    func readiness() async -> Response {
        var checks: [String: String] = [:]
        var ready = true
        do {
            _ = try await ledger.authenticate(secret: "readiness-probe")
            checks["ledger"] = "ok"
        } catch {
            checks["ledger"] = "unavailable"
            ready = false
        }
        await withTaskGroup(of: (String, String).self) { group in
            for task in tasks {
                guard let url = task.healthURL else { continue }
                group.addTask {
                    do {
                        let reply = try await upstream.get(url: url, timeout: .seconds(2))
                        return ("upstream.\(task.policy.task)", reply.status == 200 ? "ok" : "status \(reply.status)")
                    } catch {
                        return ("upstream.\(task.policy.task)", "unreachable")
                    }
                }
            }
            for await (name, state) in group {
                checks[name] = state
                if state != "ok" { ready = false }
            }
        }
        var body: [String: Any] = ["status": ready ? "ready" : "not ready"]
        body["checks"] = checks
        return Self.json(ready ? .ok : .serviceUnavailable, body)
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
