import DejaServer
import Foundation
import Testing

/// `tracing:` in the YAML file and its `DEJA_TRACING*` overrides.
extension DejaConfigurationTests {
    @Test func tracingIsOffByDefault() throws {
        let tracing = try DejaConfiguration.load(path: nil, environment: [:]).tracing
        #expect(!tracing.enabled)
        #expect(tracing.endpoint == "http://127.0.0.1:4318/v1/traces")
        #expect(tracing.serviceName == "deja")
        #expect(tracing.sampleRatio == 1)
    }

    @Test func tracingFromYAMLAndItsEnvironmentOverrides() throws {
        let path = try write("""
            tracing: {enabled: true, endpoint: "http://collector:4318/v1/traces", serviceName: deja-eu, sampleRatio: 0.25}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try DejaConfiguration.load(path: path, environment: [:]).tracing
        #expect(fromFile.enabled)
        #expect(fromFile.endpoint == "http://collector:4318/v1/traces")
        #expect(fromFile.serviceName == "deja-eu")
        #expect(fromFile.sampleRatio == 0.25)
        let overridden = try DejaConfiguration.load(path: path, environment: [
            "DEJA_TRACING": "off", "DEJA_TRACING_ENDPOINT": "https://otel.example:4318/v1/traces",
            "DEJA_TRACING_SERVICE_NAME": "gw", "DEJA_TRACING_SAMPLE_RATIO": "0.5",
        ]).tracing
        #expect(!overridden.enabled)
        #expect(overridden.endpoint == "https://otel.example:4318/v1/traces")
        #expect(overridden.serviceName == "gw")
        #expect(overridden.sampleRatio == 0.5)
    }

    @Test(arguments: [
        ("tracing: {sampleRatio: 1.5}", "tracing.sampleRatio"),
        ("tracing: {endpoint: \"collector:4318\"}", "tracing.endpoint"),
        ("tracing: {serviceName: \"\"}", "tracing.serviceName"),
        ("tracing: {enable: true}", "unknown setting 'enable'"),
    ])
    func badTracingSettingsAreRefusedByName(yaml: String, named: String) throws {
        let path = try write(yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = try #require(throws: ConfigurationError.self) { try DejaConfiguration.load(path: path, environment: [:]) }
        #expect(error.message.contains(named), "\(error.message)")
    }

    @Test func aBadTracingSampleRatioVariableIsRefused() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try DejaConfiguration.load(path: nil, environment: ["DEJA_TRACING_SAMPLE_RATIO": "half"])
        }
        #expect(error.message.contains("DEJA_TRACING_SAMPLE_RATIO"))
    }
}
