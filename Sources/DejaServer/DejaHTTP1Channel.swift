import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with Deja's connection timeouts, a lingering close after the
/// router's early answers (``EarlyAnswerWatcher``) and, when on, a ``HitFastPathHandler`` in front of
/// them and of the HTTP types codec, so a fast hit is answered in NIO's own HTTP/1 types without being
/// converted twice, and a ``PlainHitHandler`` in front of everything, answering plainly written
/// repeats from the bytes.
struct DejaHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let fastPath: HitFastPath?
    let timeouts: ConnectionTimeouts
    let lingering: LingeringClose

    init(responder: @escaping HTTPChannelHandler.Responder, fastPath: HitFastPath?, timeouts: ConnectionTimeouts, lingering: LingeringClose) {
        self.inner = HTTP1Channel(responder: responder)
        self.fastPath = fastPath
        self.timeouts = timeouts
        self.lingering = lingering
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let fastPath = self.fastPath, timeouts = self.timeouts, lingering = self.lingering
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            try pipeline.addHandler(EarlyAnswerWatcher(lingering: lingering), position: .before(codec))
            let clock = ConnectionClock()
            if let fastPath {
                let watcher = try pipeline.handler(type: EarlyAnswerWatcher.self)
                try pipeline.addHandler(HitFastPathHandler(fastPath: fastPath, lingering: lingering, clock: clock), position: .before(watcher))
            }
            try timeouts.install(in: pipeline, after: try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self), clock: clock)
            if let fastPath, fastPath.plainHits {
                try pipeline.addHandler(PlainHitHandler(fastPath: fastPath, clock: clock), position: .first)
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
