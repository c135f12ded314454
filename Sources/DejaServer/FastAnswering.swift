import DejaGateway
import NIOCore
import NIOHTTP1

/// What a ``HitFastPathHandler`` asks of the fast path: whether to hold a request, and its answer.
///
/// ``HitFastPath`` is the real one, over the gateway; tests give the handler a fake, so the
/// connection logic is tested on a channel without a gateway. Both are called on the event loop and
/// must not block.
protocol FastAnswering {
    /// A request held while its body arrives.
    associatedtype Held: HeldRequest

    /// How long a held body may still take after the read that brought its head.
    var bodyTimeout: Duration { get }
    /// The `Server` header of the answers the handler writes; `nil` for none.
    var serverName: String? { get }

    /// Whether the request starting with `head` may be a fast hit; `nil` sends it to the router.
    func hold(_ head: HTTPRequestHead) -> Held?
    /// What to do with a held request whose body has all arrived.
    func answer(_ held: Held) -> FastAnswer
    /// The 408 for a held request whose body did not arrive within ``bodyTimeout``, as the router words it.
    func bodyTimedOut(_ head: HTTPRequestHead) -> TaskResponse
}

/// The header fields of an answer written on the event loop, in order: Deja's
/// (``TaskController/forEachField(of:_:)``), the body's length (not for 1xx, 204 or 304, which have no
/// body, as NIO's encoder leaves it out), `Date`, `Server` and, when given, `Connection`.
/// ``HitFastPathHandler`` hands them to NIO's encoder; ``PlainHitHandler`` writes them itself.
enum FastAnswerFields {
    static func forEach(
        of answer: TaskResponse, contentLength: Int, date: String, serverName: String?, connection: String? = nil,
        _ body: (String, String) -> Void
    ) {
        TaskController<DejaRequestContext>.forEachField(of: answer) { body($0.rawName, $1) }
        if !(100..<200).contains(answer.status), answer.status != 204, answer.status != 304 { body("Content-Length", String(contentLength)) }
        body("Date", date)
        if let serverName { body("Server", serverName) }
        if let connection { body("Connection", connection) }
    }
}

/// What the fast path does with a held request whose body has all arrived.
enum FastAnswer {
    /// Write this answer.
    case answer(TaskResponse)
    /// Look the answer up where it may wait (the shared store), then write it: the lookup is started on
    /// the connection's event loop and completes there; `nil` sends the request to the router after all.
    case lookUp(@Sendable (any EventLoop) -> EventLoopFuture<TaskResponse?>)
    /// Hand the request to the router.
    case route
}

/// A request the fast path holds while its body arrives.
protocol HeldRequest {
    /// The request's head, as parsed.
    var head: HTTPRequestHead { get }
    /// The body parts so far, in order; the router gets them as they came if it takes the request.
    var parts: [ByteBuffer] { get }
    /// Adds the next body part.
    mutating func append(_ part: ByteBuffer)
}
