import DejaCore
import DejaLedger
import Tracing

/// The spans of the request path (`deja.request`, `deja.key`, `deja.lookup`, `deja.model_call`,
/// `deja.ledger_commit`), sent to a tracer — or nothing at all when tracing is off.
///
/// Off (``off``, the default), every traced step costs one branch on a constant `nil`: no span, no
/// context, no clock read. On, a step's span is a child of the span current in the task
/// (`ServiceContext.current`), and becomes the current one while the step runs.
///
/// Spans carry what an operator needs to follow a request — the task, the outcome, the cache layer,
/// a 16-hex prefix of the content key, statuses — and never a request or answer body, an API key's
/// secret, or an error's message (which may quote the model's words about the input): errors are
/// recorded by their code and status only.
public struct RequestTracer: Sendable {
    /// Where spans go; `nil` when tracing is off.
    public let tracer: (any Tracer)?

    /// Tracing off: nothing is recorded.
    public static let off = RequestTracer(nil)

    /// Spans go to `tracer`; `nil` turns tracing off.
    public init(_ tracer: (any Tracer)?) {
        self.tracer = tracer
    }

    /// Whether spans are recorded.
    @inlinable
    public var isOn: Bool { tracer != nil }

    /// Runs `operation` in a span named `name`, child of the current span, made current while it runs;
    /// an error it throws is recorded on the span (``recordFailure(_:on:)``) and thrown on. Off, this is
    /// `operation(nil)`.
    func span<Value, Failure: Error>(
        _ name: String, ofKind kind: SpanKind = .internal, _ operation: ((any Span)?) async throws(Failure) -> Value
    ) async throws(Failure) -> Value {
        guard let tracer else { return try await operation(nil) }
        let span = tracer.startSpan(name, context: ServiceContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        let result = await ServiceContext.$current.withValue(span.context) { () async -> Result<Value, Failure> in
            do throws(Failure) {
                return .success(try await operation(span))
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = result { Self.recordFailure(error, on: span) }
        return try result.get()
    }

    /// Marks `span` failed by `error`: an `exception` event and `error.type` naming its code (and
    /// status), never its message.
    public static func recordFailure(_ error: any Error, on span: any Span) {
        let failure = SpanFailure(error)
        span.attributes[TraceAttribute.errorType] = failure.code
        span.recordError(failure)
        span.setStatus(SpanStatus(code: .error, message: failure.description))
    }
}

/// An error as spans show it: its code and status, without its message.
struct SpanFailure: Error, CustomStringConvertible {
    var code: String
    var status: Int?

    init(_ error: any Error) {
        if let error = error as? GatewayError {
            code = "\(error.code)"
            status = error.status
        } else {
            code = String(describing: type(of: error))
        }
    }

    var description: String { status.map { "\(code) (status \($0))" } ?? code }
}

/// The names of Deja's spans.
public enum SpanName {
    /// A task request, from its head to its answer (server span).
    public static let request = "deja.request"
    /// The content key: from the memo, another instance's alias, or the canonical form built for it.
    public static let key = "deja.key"
    /// A cache lookup.
    public static let lookup = "deja.lookup"
    /// A call to the model server (client span; its `traceparent` goes with the request).
    public static let modelCall = "deja.model_call"
    /// A billed record written durably to the ledger.
    public static let ledgerCommit = "deja.ledger_commit"
}

/// The attribute names on Deja's spans.
public enum TraceAttribute {
    /// The task's name.
    public static let task = "deja.task"
    /// How the request was answered: an ``DejaLedger/Outcome`` name (`hit`, `miss`, `coalesced`, …).
    public static let outcome = "deja.outcome"
    /// The first 16 hex digits of the content key.
    public static let keyPrefix = "deja.key_prefix"
    /// How the key was found: `memo` (a byte-identical repeat, here or on another instance) or `canonical`.
    public static let keySource = "deja.key.source"
    /// Which cache tier answered a lookup: `l1` (memory) or `l2` (SQLite or Redis).
    public static let cacheLayer = "deja.cache.layer"
    /// What a lookup found: `hit` (fresh), `stale` (expired), `miss`, or `error` (the store failed).
    public static let lookupResult = "deja.lookup.result"
    /// The model version of the answer or of the call.
    public static let modelVersion = "deja.model_version"
    /// Tokens the answer is worth by the task's meter.
    public static let tokens = "deja.tokens"
    /// Tokens billed for the request.
    public static let billedTokens = "deja.billed_tokens"
    /// The tenant a ledger record is billed to.
    public static let tenant = "deja.tenant"
    /// Whether a billed record was written with an `Idempotency-Key`'s stored answer.
    public static let idempotent = "deja.idempotent"
    /// Whether the event-loop hit path answered the request.
    public static let fastPath = "deja.fast_path"
    /// OpenTelemetry semantic conventions.
    public static let httpMethod = "http.request.method"
    public static let httpRoute = "http.route"
    public static let httpStatus = "http.response.status_code"
    public static let serverAddress = "server.address"
    public static let serverPort = "server.port"
    public static let errorType = "error.type"
}

extension CacheKey {
    /// The first 16 hex digits: enough to find a key in logs and `deja explain`, too short to matter.
    var tracePrefix: String { String(hex.prefix(16)) }
}

extension TaskResponse {
    /// Records this answer on a request span: status, outcome (`error` for a failure without one),
    /// key prefix, model version, tokens; 5xx marks the span failed.
    public func record(on span: any Span) {
        span.updateAttributes { attributes in
            attributes[TraceAttribute.httpStatus] = status
            attributes[TraceAttribute.outcome] = (outcome ?? .error).rawValue
            if let key { attributes[TraceAttribute.keyPrefix] = key.tracePrefix }
            if let modelVersion { attributes[TraceAttribute.modelVersion] = modelVersion }
            attributes[TraceAttribute.tokens] = Int(tokens)
            attributes[TraceAttribute.billedTokens] = Int(billed)
        }
        if status >= 500 {
            span.attributes[TraceAttribute.errorType] = String(status)
            span.setStatus(SpanStatus(code: .error))
        }
    }
}
