@testable import DejaServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// Every transition of the event-loop hit handler's state machine, without a channel.
@Suite struct HitFastPathStateMachineTests {
    typealias Machine = HitFastPathStateMachine<FakeFastPath.Held>

    let fastPath = FakeFastPath()

    func head(_ method: HTTPMethod = .POST, _ uri: String = "/ocr", connection: String? = nil, version: HTTPVersion = .http1_1) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: version, method: method, uri: uri)
        head.headers.add(name: "Content-Length", value: "10")
        if let connection { head.headers.add(name: "Connection", value: connection) }
        return head
    }

    func receivedHead(_ machine: inout Machine, _ head: HTTPRequestHead) -> String {
        machine.receivedHead(head, hold: fastPath.hold).summary
    }

    func receivedBody(_ machine: inout Machine, _ text: String) -> String {
        machine.receivedBody(ByteBuffer(string: text)).summary
    }

    func receivedEnd(_ machine: inout Machine) -> String {
        machine.receivedEnd(nil, answer: fastPath.answer).summary
    }

    /// A machine holding a `POST /ocr` whose body so far is `body`.
    func holding(_ body: String...) -> Machine {
        var machine = Machine()
        _ = receivedHead(&machine, head())
        for part in body { _ = receivedBody(&machine, part) }
        return machine
    }

    // MARK: idle → holding → idle

    @Test func aRequestTheFastPathTakesIsHeldAndAnsweredAtItsEnd() {
        var machine = Machine()
        #expect(receivedHead(&machine, head()) == "none")
        #expect(receivedBody(&machine, "hit ") == "none")
        #expect(receivedBody(&machine, "one") == "none")
        #expect(receivedEnd(&machine) == "write 200 answer to hit one HTTP/1.1")
        #expect(fastPath.answersAsked == ["hit one"])
        #expect(machine.writing == 1)
        #expect(machine.answerWritten().summary == "none")
        #expect(machine.writing == 0)
        // Kept alive: the next request is held again.
        #expect(receivedHead(&machine, head()) == "none")
        #expect(fastPath.holdsAsked == ["/ocr", "/ocr"])
    }

    @Test func anHTTP10AnswerIsAnsweredInItsVersion() {
        var machine = Machine()
        _ = receivedHead(&machine, head(connection: "keep-alive", version: .http1_0))
        _ = receivedBody(&machine, "hit")
        #expect(receivedEnd(&machine) == "write 200 answer to hit HTTP/1.0")
        #expect(machine.answerWritten().summary == "none")
    }

    // MARK: idle → passing → idle

    @Test func aRequestTheFastPathDeclinesPassesOnAsItComes() {
        var machine = Machine()
        #expect(receivedHead(&machine, head(.GET, "/healthz")) == "forward head GET /healthz")
        #expect(machine.routed == 1)
        #expect(receivedBody(&machine, "x") == "forward body x")
        #expect(receivedHead(&machine, head(.GET, "/stray")) == "forward head GET /stray")
        #expect(receivedEnd(&machine) == "forward end")
        #expect(machine.routed == 1)
    }

    @Test func laterRequestsGoToTheRouterUntilTheRoutedResponseEnds() {
        var machine = Machine()
        _ = receivedHead(&machine, head(.GET, "/healthz"))
        _ = receivedEnd(&machine)
        // Pipelined behind the routed request: the fast path is not even asked.
        #expect(receivedHead(&machine, head()) == "forward head POST /ocr")
        #expect(receivedBody(&machine, "hit") == "forward body hit")
        #expect(receivedEnd(&machine) == "forward end")
        #expect(fastPath.holdsAsked == ["/healthz"])
        #expect(machine.routed == 2)
        machine.routedResponseEnded()
        #expect(receivedHead(&machine, head()) == "forward head POST /ocr")
        _ = receivedEnd(&machine)
        machine.routedResponseEnded()
        machine.routedResponseEnded()
        #expect(machine.routed == 0)
        #expect(receivedHead(&machine, head()) == "none")
        #expect(fastPath.holdsAsked == ["/healthz", "/ocr"])
    }

    @Test func aResponseEndBeyondTheRoutedRequestsIsNotCounted() {
        var machine = Machine()
        machine.routedResponseEnded()
        #expect(machine.routed == 0)
        _ = receivedHead(&machine, head(.GET, "/healthz"))
        _ = receivedEnd(&machine)
        machine.routedResponseEnded()
        machine.routedResponseEnded()
        #expect(machine.routed == 0)
        #expect(receivedHead(&machine, head()) == "none")
    }

    @Test func partsWithoutAHeadGoToTheRouterToReport() {
        var machine = Machine()
        #expect(receivedBody(&machine, "stray") == "forward body stray")
        #expect(receivedEnd(&machine) == "forward end")
        #expect(machine.routed == 0)
    }

    // MARK: holding → passing or idle (routed)

    @Test func aHeldRequestWithoutAnAnswerIsRoutedAsItCame() {
        var machine = holding("miss", " two")
        #expect(receivedEnd(&machine) == "route /ocr [miss,  two] release [] then end")
        #expect(machine.routed == 1)
        #expect(receivedHead(&machine, head()) == "forward head POST /ocr")
    }

    @Test func aHeadInsideAHeldRequestRoutesBoth() {
        var machine = holding("ab")
        #expect(receivedHead(&machine, head(.GET, "/other")) == "route /ocr [ab] release [] then head GET /other")
        #expect(machine.routed == 2)
        #expect(receivedBody(&machine, "cd") == "forward body cd")
        #expect(receivedEnd(&machine) == "forward end")
        #expect(machine.readComplete().summary == "none")
    }

    // MARK: holding → lookingUp → idle (written or routed)

    /// Runs the lookup an action started, as the handler does off the event loop.
    func lookedUp(_ machine: inout Machine, after action: Machine.Action) async -> String {
        guard case .lookUp(let id, let lookup) = action else { return "no lookup: \(action.summary)" }
        let response = try? await lookup(MultiThreadedEventLoopGroup.singleton.any()).get()
        return machine.lookedUp(id, response ?? nil).summary
    }

    @Test func aStoredAnswerIsLookedUpThenWritten() async {
        var machine = holding("stored hit")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(action.summary == "lookUp 1")
        #expect(machine.readComplete().summary == "none", "no body timer for a request that has ended")
        #expect(await lookedUp(&machine, after: action) == "write 200 answer to stored hit HTTP/1.1")
        #expect(machine.writing == 1 && machine.routed == 0)
        #expect(machine.answerWritten().summary == "none")
        #expect(receivedHead(&machine, head()) == "none", "kept alive: the next request is held again")
    }

    @Test func aLookupThatFindsNothingRoutesTheRequestWithItsEnd() async {
        var machine = holding("stored", " miss")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(await lookedUp(&machine, after: action) == "route /ocr [stored,  miss] release [] then end")
        #expect(machine.routed == 1 && machine.writing == 0)
    }

    @Test func aPipelinedRequestDuringALookupRoutesBothAndTheLateAnswerIsIgnored() async {
        var machine = holding("stored hit")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(receivedHead(&machine, head(.GET, "/next")) == "route /ocr [stored hit] end release [] then head GET /next")
        #expect(machine.routed == 2)
        #expect(await lookedUp(&machine, after: action) == "none")
        #expect(machine.writing == 0)
        #expect(receivedEnd(&machine) == "forward end")
    }

    @Test func aLookupAnsweredAfterTheNextOneStartedIsIgnored() async {
        var machine = holding("stored hit")
        let first = machine.receivedEnd(nil, answer: fastPath.answer)
        _ = receivedHead(&machine, head(.GET, "/next"))
        _ = receivedEnd(&machine)
        machine.routedResponseEnded()
        machine.routedResponseEnded()
        _ = receivedHead(&machine, head())
        _ = receivedBody(&machine, "stored hit 2")
        let second = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(second.summary == "lookUp 2")
        #expect(await lookedUp(&machine, after: first) == "none")
        #expect(await lookedUp(&machine, after: second) == "write 200 answer to stored hit 2 HTTP/1.1")
    }

    @Test func connectionEventsWaitForTheLookupAndItsAnswer() async {
        var machine = holding("stored hit")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(machine.received(.quiesce).summary == "none")
        #expect(machine.received(.inputClosed).summary == "none", "the request has all arrived: it is still answered")
        #expect(await lookedUp(&machine, after: action) == "write 200 answer to stored hit HTTP/1.1")
        #expect(machine.answerWritten().summary == "fire [quiesce, inputClosed]")
    }

    @Test func aLookupThatRoutesReleasesTheEventsHeldBack() async {
        var machine = holding("stored miss")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        _ = machine.received(.quiesce)
        #expect(await lookedUp(&machine, after: action) == "route /ocr [stored miss] release [quiesce] then end")
    }

    @Test func anInactiveChannelDropsALookedUpRequest() async {
        var machine = holding("stored hit")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(machine.channelInactive().summary == "dropHeld fire []")
        #expect(await lookedUp(&machine, after: action) == "none")
        #expect(machine.writing == 0)
    }

    @Test func aLookedUpAnswerToAClosingRequestClosesAfterItIsWritten() async {
        var machine = Machine()
        _ = receivedHead(&machine, head(connection: "close"))
        _ = receivedBody(&machine, "stored hit")
        let action = machine.receivedEnd(nil, answer: fastPath.answer)
        #expect(await lookedUp(&machine, after: action) == "write 200 answer to stored hit HTTP/1.1")
        #expect(machine.answerWritten().summary == "close")
    }

    // MARK: body timer, holding → closing

    @Test func theBodyTimerStartsOnlyWhenABodyOutlastsARead() {
        var machine = holding("hit")
        _ = receivedEnd(&machine)
        #expect(machine.readComplete().summary == "none")  // the whole request came in one read

        machine = holding("hit")
        #expect(machine.readComplete().summary == "startBodyTimer")
        #expect(machine.readComplete().summary == "none")  // already running
        _ = receivedBody(&machine, " late")
        #expect(receivedEnd(&machine) == "write 200 answer to hit late HTTP/1.1")
        #expect(machine.bodyTimedOut().summary == "none")  // a timer cancelled too late
    }

    @Test func aSlowBodyGetsA408AndLingersOnceItIsWritten() {
        var machine = holding("hi")
        #expect(machine.bodyTimedOut().summary == "none")  // no timer started: nothing to time out
        _ = machine.readComplete()
        #expect(machine.bodyTimedOut().summary == "writeBodyTimedOut HTTP/1.1")
        #expect(receivedBody(&machine, "t") == "none")
        #expect(receivedEnd(&machine) == "none")
        #expect(receivedHead(&machine, head()) == "none")
        #expect(machine.readComplete().summary == "none")
        #expect(fastPath.holdsAsked.count == 1)
        #expect(fastPath.answersAsked.isEmpty)
        // The client is still sending its body: read and discard it, then close.
        #expect(machine.answerWritten().summary == "linger")
    }

    @Test(arguments: [("close", .http1_1), (nil, .http1_0)] as [(String?, HTTPVersion)])
    func aRequestThatEndsTheConnectionClosesItAfterItsAnswer(_ connection: String?, _ version: HTTPVersion) {
        var machine = Machine()
        _ = receivedHead(&machine, head(connection: connection, version: version))
        _ = receivedBody(&machine, "hit")
        #expect(receivedEnd(&machine) == "write 200 answer to hit \(version)")
        #expect(receivedHead(&machine, head()) == "none")
        #expect(receivedEnd(&machine) == "none")
        #expect(fastPath.holdsAsked.count == 1)
        #expect(machine.answerWritten().summary == "close")
    }

    @Test func pipelinedAnswersCloseAfterTheLastIsWritten() {
        var machine = holding("hit 1")
        _ = receivedEnd(&machine)
        _ = receivedHead(&machine, head(connection: "close"))
        _ = receivedBody(&machine, "hit 2")
        _ = receivedEnd(&machine)
        #expect(machine.writing == 2)
        #expect(machine.answerWritten().summary == "none")
        #expect(machine.answerWritten().summary == "close")
    }

    // MARK: quiesce

    @Test func aQuiesceWhileIdleOrPassingGoesOnAtOnce() {
        var machine = Machine()
        #expect(machine.received(.quiesce).summary == "fire [quiesce]")
        _ = receivedHead(&machine, head(.GET, "/healthz"))
        #expect(machine.received(.quiesce).summary == "fire [quiesce]")
    }

    @Test func aQuiesceWhileARequestIsHeldWaitsUntilItIsRouted() {
        var machine = holding("miss")
        #expect(machine.received(.quiesce).summary == "none")
        #expect(receivedEnd(&machine) == "route /ocr [miss] release [quiesce] then end")
    }

    @Test func aQuiesceWhileARequestIsHeldWaitsUntilItsAnswerIsWritten() {
        var machine = holding("hit")
        #expect(machine.received(.quiesce).summary == "none")
        _ = receivedEnd(&machine)
        #expect(machine.answerWritten().summary == "fire [quiesce]")
    }

    @Test func aQuiesceWaitsForEveryAnswerBeingWritten() {
        var machine = holding("hit 1")
        _ = receivedEnd(&machine)
        _ = receivedHead(&machine, head())
        _ = receivedBody(&machine, "hit 2")
        _ = receivedEnd(&machine)
        #expect(machine.received(.quiesce).summary == "none")
        #expect(machine.answerWritten().summary == "none")
        #expect(machine.answerWritten().summary == "fire [quiesce]")
    }

    @Test func aRoutedRequestDoesNotReleaseAQuiesceWhileAnAnswerIsBeingWritten() {
        var machine = holding("hit 1")
        _ = receivedEnd(&machine)
        _ = receivedHead(&machine, head())
        _ = receivedBody(&machine, "miss 2")
        #expect(machine.received(.quiesce).summary == "none")
        #expect(receivedEnd(&machine) == "route /ocr [miss 2] release [] then end")
        #expect(machine.answerWritten().summary == "fire [quiesce]")
    }

    @Test func aQuiesceWhileA408IsWrittenIsOvertakenByTheLinger() {
        var machine = holding("hi")
        _ = machine.readComplete()
        _ = machine.bodyTimedOut()
        #expect(machine.received(.quiesce).summary == "none")
        #expect(machine.answerWritten().summary == "linger")
    }

    // MARK: closing → lingering

    /// A machine lingering after the 408 for a body that stopped at `body`.
    func lingering(_ body: String) -> Machine {
        var machine = holding(body)
        _ = machine.readComplete()
        _ = machine.bodyTimedOut()
        _ = machine.answerWritten()
        return machine
    }

    @Test func aLingeringConnectionTakesNoRequestPartsAndAsksNothing() {
        var machine = lingering("hi")
        #expect(receivedBody(&machine, "more") == "none")
        #expect(receivedEnd(&machine) == "none")
        #expect(receivedHead(&machine, head()) == "none")
        #expect(machine.readComplete().summary == "none")
        #expect(machine.bodyTimedOut().summary == "none")
        #expect(machine.routed == 0)
        #expect(fastPath.holdsAsked.count == 1)
        #expect(fastPath.answersAsked.isEmpty)
    }

    @Test func aLingeringConnectionPassesConnectionEventsOnAtOnce() {
        var machine = lingering("hi")
        #expect(machine.received(.quiesce).summary == "fire [quiesce]")
        #expect(machine.received(.inputClosed).summary == "fire [inputClosed]")
        #expect(machine.channelInactive().summary == "none")
    }

    @Test func aLingerWaitsForTheAnswersWrittenBeforeThe408() {
        var machine = holding("hit 1")
        _ = receivedEnd(&machine)
        _ = receivedHead(&machine, head())
        _ = receivedBody(&machine, "hi")
        _ = machine.readComplete()
        #expect(machine.bodyTimedOut().summary == "writeBodyTimedOut HTTP/1.1")
        #expect(machine.writing == 2)
        #expect(machine.answerWritten().summary == "none")
        #expect(machine.answerWritten().summary == "linger")
        #expect(machine.writing == 0)
    }

    // MARK: input closed

    @Test func anInputCloseDropsAHeldRequest() {
        var machine = holding("hit")
        _ = machine.readComplete()
        #expect(machine.received(.inputClosed).summary == "dropHeld fire [inputClosed]")
        #expect(machine.bodyTimedOut().summary == "none")
        #expect(machine.readComplete().summary == "none")
        #expect(fastPath.answersAsked.isEmpty)
    }

    @Test func anInputCloseAfterAHeldQuiesceReleasesBothInOrder() {
        var machine = holding("hit")
        _ = machine.received(.quiesce)
        #expect(machine.received(.inputClosed).summary == "dropHeld fire [quiesce, inputClosed]")
    }

    @Test func anInputCloseWaitsForAnAnswerBeingWritten() {
        var machine = holding("hit 1")
        _ = receivedEnd(&machine)
        _ = receivedHead(&machine, head())
        _ = receivedBody(&machine, "hit 2")
        #expect(machine.received(.inputClosed).summary == "dropHeld fire []")
        #expect(machine.answerWritten().summary == "fire [inputClosed]")
    }

    @Test func anInputCloseWhileIdleGoesOnAtOnce() {
        var machine = Machine()
        #expect(machine.received(.inputClosed).summary == "fire [inputClosed]")
    }

    // MARK: reads

    @Test func readsWaitWhileTheSocketIsNotWritable() {
        var machine = Machine()
        #expect(machine.read(writable: true).summary == "read")
        #expect(machine.read(writable: false).summary == "none")
        #expect(machine.writabilityChanged(writable: false).summary == "none")
        #expect(machine.writabilityChanged(writable: true).summary == "read")
        #expect(machine.writabilityChanged(writable: true).summary == "none")  // issued once
        // A read issued while writable again replaces the one held back.
        _ = machine.read(writable: false)
        #expect(machine.read(writable: true).summary == "read")
        #expect(machine.writabilityChanged(writable: true).summary == "none")
    }

    // MARK: → closed

    @Test func anInactiveChannelDropsAHeldRequestAndIgnoresWhatFollows() {
        var machine = holding("hit")
        _ = machine.received(.quiesce)
        #expect(machine.channelInactive().summary == "dropHeld fire []")
        #expect(receivedBody(&machine, "x") == "none")
        #expect(receivedEnd(&machine) == "none")
        #expect(receivedHead(&machine, head()) == "none")
        #expect(machine.readComplete().summary == "none")
        #expect(machine.channelInactive().summary == "none")
        #expect(machine.received(.inputClosed).summary == "fire [inputClosed]")  // nothing left to wait for
        #expect(fastPath.holdsAsked.count == 1)
        #expect(fastPath.answersAsked.isEmpty)
    }

    @Test func anAnswerWrittenAfterTheChannelWentInactiveDoesNothing() {
        var machine = holding("hit")
        _ = receivedEnd(&machine)
        #expect(machine.channelInactive().summary == "none")
        #expect(machine.answerWritten().summary == "none")
    }

    @Test func anAnswerWrittenThatWasNeverStartedIsABug() async {
        await #expect(processExitsWith: .failure) {
            var machine = HitFastPathStateMachine<FakeFastPath.Held>()
            _ = machine.answerWritten()
        }
    }
}
