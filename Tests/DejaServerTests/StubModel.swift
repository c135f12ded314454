import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An in-process model server on loopback speaking the PaddleX envelope, for `swift test` tiers that
/// need misses without PaddlePaddle: it answers, rejects, fails or stalls as a test tells it, counts
/// the calls and keeps the bodies it was sent.
///
/// Its answers are distinguishable: call number `n` recognises the text `"answer <n>"` on `pages` pages.
final class StubModel: Sendable {
    enum Behaviour: Sendable, Equatable {
        /// 200 with an OCR answer of this many pages.
        case answer(pages: Int)
        /// 200 with a one-page OCR answer that also recognises `text` (e.g. an ID number).
        case text(String)
        /// A sentiment answer.
        case sentiment(label: String)
        /// A PaddleX error envelope with this status.
        case error(status: Int)
        /// Wait this long, then answer one page.
        case stall(seconds: Double)
    }

    private struct State {
        var behaviour = Behaviour.answer(pages: 1)
        var calls = 0
        var bodies: [String] = []
        var traceparents: [String?] = []
    }

    private let state = Mutex(State())
    private let task: Task<Void, any Error>
    /// The port it listens on (127.0.0.1).
    let port: Int

    var url: String { "http://127.0.0.1:\(port)" }
    var calls: Int { state.withLock { $0.calls } }
    var bodies: [String] { state.withLock { $0.bodies } }
    /// The `traceparent` header of each call, in order (`nil` when a call had none).
    var traceparents: [String?] { state.withLock { $0.traceparents } }

    func behave(_ behaviour: Behaviour) {
        state.withLock { $0.behaviour = behaviour }
    }

    func reset() {
        state.withLock { $0 = State() }
    }

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// Starts a stub on a free port; ``stop()`` ends it.
    static func start() async throws -> StubModel {
        let box = Mutex<StubModel?>(nil)
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 << 20)
            guard let stub = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            return try await stub.answer(String(buffer: body), traceparent: request.headers[HTTPField.Name("traceparent")!])
        }
        router.post("/ocr", use: handler)
        router.post("/sentiment", use: handler)
        let (port, task) = try await LoopbackServer.start(router, label: "stub-model")
        let stub = StubModel(port: port, task: task)
        box.withLock { $0 = stub }
        return stub
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    private func answer(_ body: String, traceparent: String?) async throws -> Response {
        let (behaviour, call) = state.withLock { state -> (Behaviour, Int) in
            state.calls += 1
            state.bodies.append(body)
            state.traceparents.append(traceparent)
            return (state.behaviour, state.calls)
        }
        let logId = UUID().uuidString.lowercased()
        switch behaviour {
        case .answer(let pages):
            return Self.json(200, Self.ocrAnswer(logId: logId, call: call, pages: pages))
        case .text(let text):
            let page = #"{"prunedResult":{"rec_texts":["answer \#(call)","\#(text)"],"rec_scores":[0.98,0.97]},"ocrImage":null}"#
            return Self.json(200, #"{"logId":"\#(logId)","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[\#(page)],"dataInfo":{"width":8,"height":8,"type":"image"}}}"#)
        case .sentiment(let label):
            return Self.json(200, #"{"logId":"\#(logId)","errorCode":0,"errorMsg":"Success","result":{"label":"\#(label)","score":0.9}}"#)
        case .error(let status):
            return Self.json(status, #"{"logId":"\#(logId)","errorCode":\#(status),"errorMsg":"stub says \#(status)"}"#)
        case .stall(let seconds):
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            return Self.json(200, Self.ocrAnswer(logId: logId, call: call, pages: 1))
        }
    }

    static func ocrAnswer(logId: String, call: Int, pages: Int) -> String {
        let page = #"{"prunedResult":{"rec_texts":["answer \#(call)"],"rec_scores":[0.98]},"ocrImage":null}"#
        let results = Array(repeating: page, count: pages).joined(separator: ",")
        return #"{"logId":"\#(logId)","errorCode":0,"errorMsg":"Success","result":{"ocrResults":[\#(results)],"dataInfo":{"width":8,"height":8,"type":"image"}}}"#
    }

    private static func json(_ status: Int, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
