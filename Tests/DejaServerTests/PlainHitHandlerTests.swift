import DejaServer
import Foundation
import NIOCore
import Prometheus
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The byte-level hit path (``PlainHitHandler``) over real sockets: its answers are byte for byte those
/// of the HTTP/1 hit path, pipelined requests keep their order whichever path answers them, and heads or
/// bodies split across reads leave the request boundary where llhttp puts it.
@Suite(.serialized) struct PlainHitHandlerTests {
    static let body = #"{"file": "aGVsbG8gd29ybGQ=", "fileType": 1}"#
    static let other = #"{"file": "b3RoZXIgYm9keQ==", "fileType": 1}"#

    /// A blocking loopback TCP connection that reads whole HTTP/1 responses.
    final class RawConnection {
        let fd: Int32
        private var pending: [UInt8] = []

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { return }
                sent += n
            }
        }

        /// The next `count` responses, each as its text.
        func responses(_ count: Int) throws -> [String] {
            var out: [String] = []
            while out.count < count {
                if let response = takeResponse() {
                    out.append(response)
                    continue
                }
                var buffer = [UInt8](repeating: 0, count: 65_536)
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { throw POSIXError(.ETIMEDOUT) }
                pending += buffer[..<n]
            }
            return out
        }

        private func takeResponse() -> String? {
            guard let end = pending.indices.dropLast(3).first(where: { pending[$0...$0 + 3].elementsEqual([13, 10, 13, 10]) }) else { return nil }
            let head = String(decoding: pending[..<end], as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            guard pending.count >= end + 4 + length else { return nil }
            let response = String(decoding: pending[..<(end + 4 + length)], as: UTF8.self)
            pending.removeFirst(end + 4 + length)
            return response
        }
    }

    static func post(_ body: String, secret: String, extra: String = "") -> [UInt8] {
        Array(("POST /ocr HTTP/1.1\r\nHost: deja\r\nAuthorization: Bearer \(secret)\r\nContent-Type: application/json\r\n\(extra)"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)").utf8)
    }

    static func field(_ name: String, of response: String) -> String? {
        response.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    static func plainAnswers(_ registry: PrometheusCollectorRegistry) -> Int {
        var metrics: [UInt8] = []
        registry.emit(into: &metrics)
        return String(decoding: metrics, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("deja_plain_answers_total{") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
    }

    /// Runs `body` against a live gateway whose model is `stub`, with a raw connection to it.
    static func withGateway(
        plainHits: Bool = true, stub: StubModel, configure: @escaping (inout DejaConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (_ connect: @Sendable () throws -> RawConnection, _ secret: String, _ registry: PrometheusCollectorRegistry) async throws -> Void
    ) async throws {
        let gateway = try await TestGateway.make { configuration in
            configuration.server.plainHits = plainHits
            configuration.tasks[0].upstream = stub.url + "/ocr"
            configure(&configuration)
        }
        defer { gateway.cleanUp() }
        let registry = PrometheusCollectorRegistry()
        let secret = gateway.secret
        try await gateway.testLive(registry: registry) { client in
            let port = try #require(client.port)
            try await body({ try RawConnection(port: port) }, secret, registry)
        }
    }

    /// Runs `body` on a raw connection to a live gateway whose model answers one page, once the
    /// connection's first request, `post(body, secret:)`, has been answered as a miss.
    static func withPrimedConnection(
        _ body: @escaping @Sendable (RawConnection, _ secret: String, PrometheusCollectorRegistry) async throws -> Void
    ) async throws {
        let stub = try await StubModel.start()
        defer { Task { await stub.stop() } }
        stub.behave(.answer(pages: 1))
        try await withGateway(stub: stub) { connect, secret, registry in
            let connection = try connect()
            connection.send(post(Self.body, secret: secret))
            #expect(field("x-deja-cache", of: try connection.responses(1)[0]) == "miss")
            try await body(connection, secret, registry)
        }
    }

    @Test func plainAnswersAreByteForByteTheHTTPPathsAnswers() async throws {
        let stub = try await StubModel.start()
        defer { Task { await stub.stop() } }
        stub.behave(.answer(pages: 60))  // an answer of ~7 KB: written behind the head, not copied into it
        let seen = Mutex<[Bool: [String]]>([:])
        for plainHits in [true, false] {
            stub.reset()
            // Three requests a key may make, then 429s: the rate limiter's refusal is compared too.
            try await Self.withGateway(plainHits: plainHits, stub: stub, configure: { configuration in
                configuration.server.rateLimitPerSecond = 0.001
                configuration.server.rateLimitBurst = 3
            }) { connect, secret, registry in
                let connection = try connect()
                connection.send(Self.post(Self.body, secret: secret))
                let miss = try connection.responses(1)[0]
                #expect(Self.field("x-deja-cache", of: miss) == "miss")
                var answers: [String] = []
                for extra in ["", "Connection: keep-alive\r\n", "connection: Keep-Alive\r\n"] {
                    connection.send(Self.post(Self.body, secret: secret, extra: extra))
                    answers.append(try connection.responses(1)[0])
                }
                #expect(answers[..<2].map { Self.field("x-deja-cache", of: $0) } == ["hit", "hit"])
                #expect(answers[2].hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
                #expect(Self.plainAnswers(registry) == (plainHits ? 3 : 0))
                // The date, the answer's age and its fresh logId are the moment's; the rest must match to the byte.
                let stable = answers.map { answer in
                    answer.split(separator: "\r\n", omittingEmptySubsequences: false)
                        .filter { !$0.hasPrefix("Date:") && !$0.hasPrefix("Age:") }.joined(separator: "\r\n")
                        .replacing(#/"logId" *: *"[^"]*"/#, with: #""logId":"-""#)
                }
                seen.withLock { $0[plainHits] = stable }
            }
        }
        let both = seen.withLock { $0 }
        #expect(both[true] == both[false], "plain: \(both[true] ?? []) vs HTTP/1 path: \(both[false] ?? [])")
        #expect(both[true]?.first?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
    }

    @Test func pipelinedRequestsKeepTheirOrderWhicheverPathAnswers() async throws {
        try await Self.withPrimedConnection { connection, secret, registry in
            // One write: a hit, a miss (to the model) and a hit behind it, which waits for the miss.
            connection.send(Self.post(Self.body, secret: secret) + Self.post(Self.other, secret: secret) + Self.post(Self.body, secret: secret))
            let three = try connection.responses(3)
            #expect(three.map { Self.field("x-deja-cache", of: $0) } == ["hit", "miss", "hit"])
            #expect(Self.plainAnswers(registry) == 1)
            #expect(three[0].hasSuffix(Self.stableBody(three[2])))
            // After requests handed on, the boundary is known: the next plain repeat is answered from its bytes.
            connection.send(Self.post(Self.other, secret: secret))
            #expect(Self.field("x-deja-cache", of: try connection.responses(1)[0]) == "hit")
            #expect(Self.plainAnswers(registry) == 2)
            // A head that is not plain: it and everything after it go through HTTP/1 parsing, still answered.
            connection.send(Self.post(Self.body, secret: secret, extra: "X-Note:\tfolded\r\n") + Self.post(Self.body, secret: secret))
            #expect(try connection.responses(2).map { Self.field("x-deja-cache", of: $0) } == ["hit", "hit"])
            #expect(Self.plainAnswers(registry) == 2)
        }
    }

    @Test func headsAndBodiesSplitAcrossReadsKeepTheBoundary() async throws {
        try await Self.withPrimedConnection { connection, secret, registry in
            let request = Self.post(Self.body, secret: secret)
            // A head in two reads: kept until whole, then answered from the bytes.
            connection.send(Array(request[..<12]))
            try await Task.sleep(for: .milliseconds(100))
            connection.send(Array(request[12...]))
            #expect(Self.field("x-deja-cache", of: try connection.responses(1)[0]) == "hit")
            #expect(Self.plainAnswers(registry) == 1)
            // A body in two reads: handed on and answered by the HTTP/1 path, by count.
            let bodyStart = request.count - Self.body.utf8.count
            connection.send(Array(request[..<(bodyStart + 5)]))
            try await Task.sleep(for: .milliseconds(100))
            connection.send(Array(request[(bodyStart + 5)...]))
            #expect(Self.field("x-deja-cache", of: try connection.responses(1)[0]) == "hit")
            #expect(Self.plainAnswers(registry) == 1)
            // Behind it, the boundary is where llhttp put it: a whole request is answered from the bytes again.
            connection.send(request)
            #expect(Self.field("x-deja-cache", of: try connection.responses(1)[0]) == "hit")
            #expect(Self.plainAnswers(registry) == 2)
        }
    }

    /// A response's body without its volatile `logId`.
    static func stableBody(_ response: String) -> String {
        let body = String(response[response.range(of: "\r\n\r\n")!.upperBound...])
        return String(body[(body.range(of: "\"result\"") ?? body.range(of: body)!).lowerBound...])
    }
}
