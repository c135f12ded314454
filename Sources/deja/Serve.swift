import ArgumentParser
import DejaServer
import Foundation
import Logging
import Metrics
import NIOCore
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
        // Whatever the gateway creates (SQLite's files, the seal secrets) is its user's alone.
        umask(0o077)
        let logger = Logger(label: "deja")
        if let path = options.config {
            let exposed = StorageFolder.exposedSecrets(configurationFile: path)
            if !exposed.isEmpty {
                logger.warning("the configuration file is readable by other users and holds secrets; chmod 600 it or move them to DEJA_* variables", metadata: [
                    "deja.config": "\(path)", "deja.secrets": "\(exposed.joined(separator: ", "))",
                ])
            }
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DejaMetrics.factory(registry: registry))

        let app = try await buildApplication(configuration: configuration, registry: registry, logger: logger)
        do {
            try await app.runService()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            // The other services have stopped and the stores are closed: say which setting to change.
            throw ConfigurationError("server.port: cannot listen on \(configuration.server.host):\(configuration.server.port), "
                + "another process uses that address (change server.host / server.port, or pass --host / --port)")
        }
    }
}
