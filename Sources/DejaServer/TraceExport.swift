import DejaGateway
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// The tracer behind ``DejaGateway/RequestTracer`` when `tracing.enabled` is on: swift-otel's batch span
/// processor and OTLP/HTTP exporter, run as a service of the application.
///
/// The tracer is handed to the gateway and the server, never bootstrapped globally
/// (`InstrumentationSystem`), so that tests can run several gateways in one process.
/// The service exports in batches and, when the application stops (SIGTERM), ends after the HTTP
/// server and every other service, exporting what is left.
enum TraceExport {
    /// The tracer and the service that exports its spans; ``DejaGateway/RequestTracer/off`` and no service
    /// when tracing is off (`tracing.enabled` false, or `OTEL_SDK_DISABLED=true`).
    static func make(
        _ settings: DejaConfiguration.Tracing, environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) throws -> (tracer: RequestTracer, service: (any Service)?) {
        guard settings.enabled else { return (.off, nil) }
        if environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" {
            logger.info("tracing.enabled is on but OTEL_SDK_DISABLED=true: no spans are recorded")
            return (.off, nil)
        }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.sampler = .parentBasedTraceIDRatio(ratio: settings.sampleRatio) ?? .parentBasedAlwaysOn
        configuration.traces.otlpExporter.endpoint = settings.endpoint
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        do {
            // Applies the OTEL_* variables over these settings.
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            logger.info("tracing on", metadata: ["deja.tracing.endpoint": "\(settings.endpoint)"])
            return (RequestTracer(backend.factory), backend.service)
        } catch {
            throw ConfigurationError("tracing: \(error)")
        }
    }
}
