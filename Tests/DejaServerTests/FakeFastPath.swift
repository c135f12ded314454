@testable import DejaServer
import DejaCore
import DejaGateway
import NIOCore
import NIOHTTP1

/// A fast path without a gateway: it holds every `POST /ocr` and answers a held body that starts with
/// `hit`; a body that starts with `stored` is looked up, and the lookup answers it when the body goes
/// on with ` hit` (else the router does); any other body goes to the router. It records what it was asked.
final class FakeFastPath: FastAnswering {
    struct Held: HeldRequest {
        var head: HTTPRequestHead
        var parts: [ByteBuffer] = []

        mutating func append(_ part: ByteBuffer) { parts.append(part) }

        var body: String { parts.map { String(buffer: $0) }.joined() }
    }

    let bodyTimeout: Duration = .seconds(30)
    let serverName: String? = "deja-test"
    /// The URIs `hold` was asked about, in order.
    private(set) var holdsAsked: [String] = []
    /// The bodies `answer` was asked about, in order.
    private(set) var answersAsked: [String] = []

    func hold(_ head: HTTPRequestHead) -> Held? {
        holdsAsked.append(head.uri)
        return head.method == .POST && head.uri == "/ocr" ? Held(head: head) : nil
    }

    /// The router's 408 in the PaddleX envelope, as a real OCR route words it.
    func bodyTimedOut(_ head: HTTPRequestHead) -> TaskResponse {
        TaskController<DejaRequestContext>.bodyTimedOut(bodyTimeout, task: TaskRuntime(
            policy: TaskPolicy(task: "ocr", modelName: "m", modelVersion: "1"), route: "/ocr", upstreamURL: "http://127.0.0.1:9/ocr",
            meter: .perPage(10)))
    }

    func answer(_ held: Held) -> FastAnswer {
        answersAsked.append(held.body)
        let body = held.body
        if body.hasPrefix("hit") { return .answer(Self.answer(to: body)) }
        guard body.hasPrefix("stored") else { return .route }
        return .lookUp { eventLoop in eventLoop.makeSucceededFuture(body.hasPrefix("stored hit") ? Self.answer(to: body) : nil) }
    }

    static func answer(to body: String) -> TaskResponse {
        TaskResponse(status: 200, outcome: .hit, key: nil, tokens: 7, body: [ByteBuffer(string: "answer to \(body)")])
    }
}

extension HitFastPathStateMachine.Action {
    /// The action in a few words, for comparing in tests.
    var summary: String {
        switch self {
        case .none: "none"
        case .forward(let part): "forward \(part.summary)"
        case .route(let held, let next, let events):
            "route \(held.head.uri) [\(held.parts.map { String(buffer: $0) }.joined(separator: ", "))] "
                + "release \(list(events)) then \(next.summary)"
        case .routeEnded(let held, _, let next, let events):
            "route \(held.head.uri) [\(held.parts.map { String(buffer: $0) }.joined(separator: ", "))] end "
                + "release \(list(events)) then \(next.summary)"
        case .lookUp(let id, _): "lookUp \(id)"
        case .startBodyTimer: "startBodyTimer"
        case .write(let answer, let version): "write \(answer.status) \(String(buffer: answer.body[0])) \(version)"
        case .writeBodyTimedOut(let head): "writeBodyTimedOut \(head.version)"
        case .dropHeld(let events): "dropHeld fire \(list(events))"
        case .fire(let events): "fire \(list(events))"
        case .read: "read"
        case .close: "close"
        case .linger: "linger"
        }
    }

    private func list(_ events: [HitFastPathStateMachine.ConnectionEvent]) -> String {
        "[" + events.map { "\($0)" }.joined(separator: ", ") + "]"
    }
}

extension HTTPServerRequestPart {
    var summary: String {
        switch self {
        case .head(let head): "head \(head.method) \(head.uri)"
        case .body(let part): "body \(String(buffer: part))"
        case .end: "end"
        }
    }
}
