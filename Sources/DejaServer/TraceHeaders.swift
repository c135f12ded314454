import DejaGateway
import HTTPTypes
import NIOHTTP1
import Tracing

/// Reads a client's trace context (`traceparent`, `tracestate`) from a request's fields on the router.
struct HTTPFieldsTraceExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

/// Reads a client's trace context from a request head on the event-loop hit path.
struct HTTPHeadersTraceExtractor: Extractor {
    func extract(key: String, from carrier: HTTPHeaders) -> String? {
        carrier.first(name: key)
    }
}

extension RequestTracer {
    /// Starts the `deja.request` server span of a task request, continuing the client's trace when its
    /// headers carry one; `nil` when tracing is off.
    func startRequestSpan<Carrier, Extract: Extractor>(
        task: TaskRuntime, headers: Carrier, using extractor: Extract, at instant: DefaultTracerClock.Instant = DefaultTracerClock.now
    ) -> (any Span)? where Extract.Carrier == Carrier {
        guard let tracer else { return nil }
        var context = ServiceContext.topLevel
        tracer.extract(headers, into: &context, using: extractor)
        let span = tracer.startSpan(SpanName.request, context: context, ofKind: .server, at: instant)
        span.updateAttributes { attributes in
            attributes[TraceAttribute.task] = task.policy.task
            attributes[TraceAttribute.httpMethod] = "POST"
            attributes[TraceAttribute.httpRoute] = task.route
        }
        return span
    }
}
