import ArgumentParser
import DejaServer
import Logging
import Metrics
import Prometheus

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway until SIGTERM or SIGINT.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Address to bind (overrides server.host).")
    var host: String?

    @Option(help: "Port to listen on (overrides server.port).")
    var port: Int?

    func run() async throws {
        var configuration = try DejaConfiguration.load(path: options.config)
        if let host { configuration.server.host = host }
        if let port { configuration.server.port = port }
        try configuration.validate()

        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let app = try await buildApplication(configuration: configuration, registry: registry, logger: Logger(label: "deja"))
        try await app.runService()
    }
}
