import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// What a model server answered: status and body, nothing interpreted yet.
public struct UpstreamReply: Sendable {
    public var status: Int
    public var body: ByteBuffer
    /// Seconds from sending the request to having the whole answer.
    public var seconds: Double
}

/// The HTTP client Deja uses to reach model servers; a `Service` so it shuts down with the gateway.
///
/// One shared connection pool for all tasks. Calls are bounded by a per-call timeout and a maximum
/// answer size, and every failure is reported as a ``GatewayError`` that never contains request content.
public final class UpstreamClient: Service, Sendable {
    private let client: HTTPClient
    private let maxAnswerBytes: Int

    /// - Parameter maxAnswerBytes: answers larger than this fail with `upstreamFailed`.
    public init(maxAnswerBytes: Int = 64 << 20, connectTimeout: TimeAmount = .seconds(2)) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = connectTimeout
        // A refused connection fails the call at once instead of being retried until the connect
        // timeout: the circuit breaker, stale-if-error and the client's own retry handle a dead
        // model server better than waiting does.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.maxAnswerBytes = maxAnswerBytes
    }

    /// POSTs a JSON body to `url` and collects the answer; `headers` (a trace's `traceparent`) go with it.
    ///
    /// - Throws: ``GatewayError`` `.upstreamUnavailable` when the server cannot be reached or times out,
    ///   `.upstreamFailed` when the answer is unreadable or too large.
    public func postJSON(url: String, body: [UInt8], timeout: TimeAmount, headers: HTTPHeaders? = nil) async throws(GatewayError) -> UpstreamReply {
        var fields = headers ?? HTTPHeaders()
        fields.add(name: "content-type", value: "application/json")
        return try await execute(url: url, method: .POST, headers: fields, body: .bytes(body), timeout: timeout)
    }

    /// GETs `url`; used for health probes.
    public func get(url: String, timeout: TimeAmount) async throws(GatewayError) -> UpstreamReply {
        try await execute(url: url, method: .GET, headers: HTTPHeaders(), body: nil, timeout: timeout)
    }

    private func execute(
        url: String, method: HTTPMethod, headers: HTTPHeaders, body: HTTPClient.Body?, timeout: TimeAmount
    ) async throws(GatewayError) -> UpstreamReply {
        let started = ContinuousClock.now
        do {
            let request = try HTTPClient.Request(url: url, method: method, headers: headers, body: body)
            let accumulator = ResponseAccumulator(request: request, maxBodySize: maxAnswerBytes)
            let response = try await client.execute(request: request, delegate: accumulator, deadline: .now() + timeout).futureResult.get()
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return UpstreamReply(status: Int(response.status.code), body: response.body ?? ByteBuffer(), seconds: seconds)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw GatewayError(.upstreamUnavailable, "the model server did not answer within \(timeout.seconds) s", underlying: error)
        } catch let error as ResponseAccumulator.ResponseTooBigError {
            throw GatewayError(.upstreamFailed, "the model server's answer was larger than \(maxAnswerBytes) bytes", underlying: error)
        } catch let error as HTTPClientError where error == .bodyLengthMismatch {
            throw GatewayError(.upstreamFailed, "the model server's answer was larger than \(maxAnswerBytes) bytes or malformed", underlying: error)
        } catch {
            var failure = GatewayError(.upstreamUnavailable, "the model server could not be reached", underlying: error)
            failure.isConnectionFailure = Self.isConnectionFailure(error)
            throw failure
        }
    }

    /// Whether `error` happened while connecting, before any byte of the request was sent.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if let error = error as? IOError {
            return [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL].contains(error.errnoCode)
        }
        return false
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Closes the connection pool; for users that do not run the client as a service.
    public func shutdown() async throws {
        try await client.shutdown()
    }
}

extension TimeAmount {
    var seconds: Int64 { nanoseconds / 1_000_000_000 }
}
