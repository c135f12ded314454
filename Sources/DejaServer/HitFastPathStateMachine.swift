import DejaGateway
import NIOCore
import NIOHTTP1

/// The connection logic of ``HitFastPathHandler``: which request parts go on to the router, when a
/// held request is answered, when connection events go on, when reads are issued.
///
/// Synchronous and free of I/O: the handler feeds it the channel's events and carries out the
/// ``Action`` each returns. The fast path's two decisions — may this request be held, what is its
/// answer — come in as functions, asked only when the machine may act on them.
///
/// The state is that of the request being read:
/// - `idle`: between requests.
/// - `holding`: a request the fast path may answer, its body parts kept as they arrive; once a read
///   ended without its end, its body timer runs.
/// - `lookingUp`: a held request whose answer is being looked up where it may wait (the shared store);
///   its end has arrived. The lookup's answer is written, or the request goes to the router; a request
///   part arriving meanwhile (a pipelining client) sends it to the router at once, and the lookup's
///   late answer is ignored.
/// - `passing`: the current request's parts go to the router as they come, up to its end.
/// - `closing`: an answer after which the connection closes is being written; no more request parts
///   are taken. Once written, a request whose body had ended closes the connection at once; one whose
///   body was still arriving (the 408) lingers instead.
/// - `lingering`: the connection reads and discards what the client still sends, so it can finish
///   sending and read its answer, then closes (``LingeringClose``); no request parts arrive anymore.
/// - `closed`: the channel is inactive (or the handler removed); what still comes is ignored.
///
/// Across requests it counts requests handed to the router whose response has not ended — while any
/// has not, later requests go to the router too, so pipelined answers keep their order — and fast
/// answers whose write has not completed. A quiesce or an input close is held back while a request
/// is held or an answer is being written, so Hummingbird does not close the connection under it.
struct HitFastPathStateMachine<Held: HeldRequest> {
    /// A connection event the machine may hold back.
    enum ConnectionEvent: Equatable {
        /// `ChannelShouldQuiesceEvent`: graceful shutdown.
        case quiesce
        /// `ChannelEvent.inputClosed`: the client half-closed the connection.
        case inputClosed
    }

    /// What the handler does after an event.
    enum Action {
        /// Nothing.
        case none
        /// Pass this request part on to the router.
        case forward(HTTPServerRequestPart)
        /// Cancel the held request's body timer and hand the request to the router: its head and body
        /// parts as they came, then the connection events `release` (held back until now), then `next`,
        /// the part just read.
        case route(Held, next: HTTPServerRequestPart, release: [ConnectionEvent])
        /// Hand a request whose end has arrived to the router: its head, body parts and end (with
        /// `trailers`), then the connection events `release`, then `next`, the part just read.
        case routeEnded(Held, trailers: HTTPHeaders?, next: HTTPServerRequestPart, release: [ConnectionEvent])
        /// Cancel the held request's body timer and start `lookup` on the connection's event loop; report
        /// its answer with ``lookedUp(_:_:)`` and this `id`.
        case lookUp(id: Int, @Sendable (any EventLoop) -> EventLoopFuture<TaskResponse?>)
        /// Start the held request's body timer; when it fires, report ``bodyTimedOut()``.
        case startBodyTimer
        /// Cancel the held request's body timer and write `answer` to it; report ``answerWritten()``
        /// when the write completes.
        case write(TaskResponse, version: HTTPVersion)
        /// Write the 408 for a held body that is too slow, with `Connection: close`; report
        /// ``answerWritten()`` when the write completes.
        case writeBodyTimedOut(head: HTTPRequestHead)
        /// Cancel the held request's body timer and drop it (its body can never arrive), then pass
        /// these connection events on.
        case dropHeld(thenFire: [ConnectionEvent])
        /// Pass these connection events on, in order.
        case fire([ConnectionEvent])
        /// Issue a read on the channel.
        case read
        /// Close the channel.
        case close
        /// Close the channel's output and begin a ``LingeringClose``: read and discard what the client
        /// still sends, then close.
        case linger
    }

    private enum State {
        case idle
        case holding(Held, bodyTimer: Bool)
        case lookingUp(Held, trailers: HTTPHeaders?, id: Int)
        case passing
        case closing(thenLinger: Bool)
        case lingering
        case closed
    }

    private var state = State.idle
    /// Requests handed to the router whose response has not ended.
    private(set) var routed = 0
    /// Fast answers whose write has not completed.
    private(set) var writing = 0
    /// Connection events held back until no request is held and no answer is being written.
    private var deferred: [ConnectionEvent] = []
    /// A read asked for while the socket was not writable, to issue once it is.
    private var readPending = false
    /// Lookups started, naming the current one so a late answer to an abandoned one is ignored.
    private var lookups = 0

    init() {}

    // MARK: Request parts

    /// A request head arrived; `hold` is asked whether the fast path may answer it, only when it
    /// could: no request is held or passing and every routed request has its response.
    mutating func receivedHead(_ head: HTTPRequestHead, hold: (HTTPRequestHead) -> Held?) -> Action {
        switch state {
        case .idle:
            if routed == 0, let held = hold(head) {
                state = .holding(held, bodyTimer: false)
                return .none
            }
            routed += 1
            state = .passing
            return .forward(.head(head))
        case .holding(let held, _):
            // A head inside a held request (the parser does not make one): the router judges both.
            routed += 2
            state = .passing
            return .route(held, next: .head(head), release: releasable())
        case .lookingUp(let held, let trailers, _):
            // A pipelined request: the router answers both, in order.
            routed += 2
            state = .passing
            return .routeEnded(held, trailers: trailers, next: .head(head), release: releasable())
        case .passing:
            return .forward(.head(head))
        case .closing, .lingering, .closed:
            return .none
        }
    }

    /// A body part arrived.
    mutating func receivedBody(_ part: ByteBuffer) -> Action {
        switch state {
        case .holding(var held, let bodyTimer):
            state = .idle  // no second reference to the parts while appending, so they are not copied
            held.append(part)
            state = .holding(held, bodyTimer: bodyTimer)
            return .none
        case .idle, .passing:
            return .forward(.body(part))  // idle: a body without a head, the router reports it
        case .lookingUp(let held, let trailers, _):
            return routeLookedUp(held, trailers: trailers, next: .body(part))
        case .closing, .lingering, .closed:
            return .none
        }
    }

    /// A request's end arrived; for a held request `answer` is asked for its answer.
    mutating func receivedEnd(_ trailers: HTTPHeaders?, answer: (Held) -> FastAnswer) -> Action {
        switch state {
        case .holding(let held, _):
            switch answer(held) {
            case .answer(let response):
                return write(response, to: held)
            case .lookUp(let lookup):
                lookups += 1
                state = .lookingUp(held, trailers: trailers, id: lookups)
                return .lookUp(id: lookups, lookup)
            case .route:
                routed += 1
                state = .idle
                return .route(held, next: .end(trailers), release: releasable())
            }
        case .passing:
            state = .idle
            return .forward(.end(trailers))
        case .idle:
            return .forward(.end(trailers))
        case .lookingUp(let held, let previous, _):
            return routeLookedUp(held, trailers: previous, next: .end(trailers))
        case .closing, .lingering, .closed:
            return .none
        }
    }

    /// The lookup `id` ended with `response`: written when it is the current lookup's and there is one;
    /// without one the request goes to the router. A lookup abandoned meanwhile changes nothing.
    mutating func lookedUp(_ id: Int, _ response: TaskResponse?) -> Action {
        guard case .lookingUp(let held, let trailers, let current) = state, current == id else { return .none }
        if let response { return write(response, to: held) }
        routed += 1
        state = .idle
        return .route(held, next: .end(trailers), release: releasable())
    }

    /// Writes `response` to `held`, counting the write.
    private mutating func write(_ response: TaskResponse, to held: Held) -> Action {
        writing += 1
        // The router does not repeat a client's own `Connection: close`; neither does this.
        state = held.head.isKeepAlive ? .idle : .closing(thenLinger: false)
        return .write(response, version: held.head.version)
    }

    /// A part other than a new head arrived while `held` was looked up: both go to the router.
    private mutating func routeLookedUp(_ held: Held, trailers: HTTPHeaders?, next: HTTPServerRequestPart) -> Action {
        routed += 1
        state = .idle
        return .routeEnded(held, trailers: trailers, next: next, release: releasable())
    }

    /// A read from the socket ended. A held body still arriving has `bodyTimeout` from now to finish;
    /// most requests arrive whole in one read and never start the timer.
    mutating func readComplete() -> Action {
        guard case .holding(let held, bodyTimer: false) = state else { return .none }
        state = .holding(held, bodyTimer: true)
        return .startBodyTimer
    }

    /// The held request's body timer fired: the request gets a 408 and the connection closes. Without
    /// a running timer (one cancelled too late), nothing happens.
    mutating func bodyTimedOut() -> Action {
        guard case .holding(let held, bodyTimer: true) = state else { return .none }
        writing += 1
        state = .closing(thenLinger: true)  // the body is still arriving
        return .writeBodyTimedOut(head: held.head)
    }

    // MARK: Writes

    /// The router's response ended (its `.end` passed on the way out). An end beyond the requests
    /// handed to the router is not counted.
    mutating func routedResponseEnded() {
        routed = max(0, routed - 1)
    }

    /// A fast answer's write completed (or failed).
    mutating func answerWritten() -> Action {
        precondition(writing > 0, "a fast answer's write completed that was not started")
        writing -= 1
        switch state {
        case .closing(let thenLinger):
            guard writing == 0 else { return .none }
            guard thenLinger else { return .close }
            state = .lingering
            return .linger
        case .idle, .passing:
            let events = releasable()
            return events.isEmpty ? .none : .fire(events)
        case .holding, .lookingUp, .lingering, .closed:
            return .none
        }
    }

    // MARK: Connection

    /// A quiesce or an input close arrived.
    mutating func received(_ event: ConnectionEvent) -> Action {
        switch state {
        case .holding where event == .inputClosed:
            // The held body can never complete: drop it; the router sees the input close.
            state = .idle
            deferred.append(event)
            return .dropHeld(thenFire: releasable())
        case .holding, .lookingUp:
            // A looked-up request has all arrived: it is answered before the event goes on.
            deferred.append(event)
            return .none
        case .idle, .passing, .closing, .lingering:
            deferred.append(event)
            let events = releasable()
            return events.isEmpty ? .none : .fire(events)
        case .closed:
            return .fire([event])
        }
    }

    /// The handler was asked to read; reads wait while the socket is not writable, so a client that
    /// sends requests without reading the answers cannot make answers pile up in memory.
    mutating func read(writable: Bool) -> Action {
        guard writable else {
            readPending = true
            return .none
        }
        readPending = false
        return .read
    }

    /// The socket's writability changed: a read held back goes out once it is writable.
    mutating func writabilityChanged(writable: Bool) -> Action {
        guard writable, readPending else { return .none }
        readPending = false
        return .read
    }

    /// The channel went inactive or the handler was removed: the held request and events held back
    /// are dropped.
    mutating func channelInactive() -> Action {
        let wasHolding = switch state {
        case .holding, .lookingUp: true
        default: false
        }
        state = .closed
        deferred.removeAll()
        return wasHolding ? .dropHeld(thenFire: []) : .none
    }

    /// Takes the events held back when nothing holds them anymore: no request held, no answer being
    /// written.
    private mutating func releasable() -> [ConnectionEvent] {
        switch state {
        case .holding, .lookingUp: return []
        default: break
        }
        guard writing == 0, !deferred.isEmpty else { return [] }
        defer { deferred.removeAll() }
        return deferred
    }
}
