import DejaGateway
import NIOCore
import NIOHTTP1

extension HitFastPath: FastAnswering {
    func bodyTimedOut(_ head: HTTPRequestHead) -> TaskResponse {
        guard let route = routes[head.uri] else { preconditionFailure("a held request is always on a task route") }
        return TaskController<DejaRequestContext>.bodyTimedOut(bodyTimeout, task: route.task)
    }
}

extension HitFastPath: PlainAnswering {}

extension HitFastPath.Held: HeldRequest {
    /// Hashes the part and keeps it, in case the router takes the request.
    mutating func append(_ part: ByteBuffer) {
        hasher.update(part)
        parts.append(part)
    }
}
