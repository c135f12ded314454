import Foundation

extension DejaConfiguration {
    /// OpenTelemetry traces of the request path, exported over OTLP/HTTP (protobuf). Off by default.
    ///
    /// The standard `OTEL_*` variables (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_HEADERS`, `…_PROTOCOL`,
    /// `…_COMPRESSION`, `…_TIMEOUT`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`, `OTEL_SERVICE_NAME`,
    /// `OTEL_RESOURCE_ATTRIBUTES`) apply over these settings when tracing is on; they never turn it on.
    public struct Tracing: Sendable, Codable, Equatable {
        /// Record and export spans (default off: nothing is started, the request path pays nothing).
        public var enabled: Bool = false
        /// The collector's OTLP/HTTP traces URL, used as it is (no `/v1/traces` appended).
        public var endpoint: String = "http://127.0.0.1:4318/v1/traces"
        /// `service.name` of the exported spans.
        public var serviceName: String = "deja"
        /// Fraction of new traces recorded (default 1); a request continuing a client's trace follows
        /// the client's sampling decision.
        public var sampleRatio: Double = 1.0

        public init() {}

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            try c.rejectUnknown(["enabled", "endpoint", "serviceName", "sampleRatio"])
            self.init()
            enabled = try c.value("enabled", default: enabled)
            endpoint = try c.value("endpoint", default: endpoint)
            serviceName = try c.value("serviceName", default: serviceName)
            sampleRatio = try c.value("sampleRatio", default: sampleRatio)
        }

        /// Applies `DEJA_TRACING`, `DEJA_TRACING_ENDPOINT`, `DEJA_TRACING_SERVICE_NAME` and
        /// `DEJA_TRACING_SAMPLE_RATIO`.
        mutating func applyEnvironment(_ environment: [String: String]) throws {
            if let value = environment["DEJA_TRACING"] { enabled = !["0", "false", "no", "off", ""].contains(value.lowercased()) }
            if let value = environment["DEJA_TRACING_ENDPOINT"] { endpoint = value }
            if let value = environment["DEJA_TRACING_SERVICE_NAME"] { serviceName = value }
            if let text = environment["DEJA_TRACING_SAMPLE_RATIO"] {
                guard let value = Double(text) else { throw ConfigurationError("DEJA_TRACING_SAMPLE_RATIO=\(text) is not a number") }
                sampleRatio = value
            }
        }

        /// Checks the settings, naming the one that is wrong.
        func validate() throws {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ConfigurationError("tracing.endpoint '\(endpoint)' is not an http(s) URL")
            }
            guard !serviceName.isEmpty else { throw ConfigurationError("tracing.serviceName must not be empty") }
            guard (0...1).contains(sampleRatio) else { throw ConfigurationError("tracing.sampleRatio must be between 0 and 1") }
        }
    }
}
