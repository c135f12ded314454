import ArgumentParser
import DejaLedger
import DejaServer
import Foundation
import Logging

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key for a tenant and print its secret (shown once).")

        @OptionGroup var options: ConfigOptions

        @Option(help: "The tenant the key bills to.")
        var tenant: String

        @Option(help: "A label for the key.")
        var name: String = "default"

        @Flag(help: "Print only the secret (for scripts).")
        var quiet = false

        func run() async throws {
            try await withLedger(options) { ledger in
                let (info, secret) = try await ledger.createKey(tenant: tenant, name: name)
                if quiet {
                    print(secret)
                } else {
                    print("key id:  \(info.id)")
                    print("tenant:  \(info.tenant)")
                    print("secret:  \(secret)")
                    print("The secret is shown only now; Deja keeps only its hash.")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")

        @OptionGroup var options: ConfigOptions

        @Option(help: "Only this tenant's keys.")
        var tenant: String?

        func run() async throws {
            try await withLedger(options) { ledger in
                let keys = try await ledger.listKeys(tenant: tenant)
                let rows = keys.map { key in
                    [key.id, key.tenant, key.name, Table.date(key.createdAt), key.revokedAt.map(Table.date) ?? "-"]
                }
                print(Table.render(header: ["ID", "TENANT", "NAME", "CREATED", "REVOKED"], rows: rows))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key by id.",
            discussion: """
                With a shared Redis cache, every running gateway stops accepting the key at once; an embedded \
                gateway (another process) within 5 seconds — POST /admin/keys/<id>/revoke on it takes effect at once.
                """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The key id, as `deja keys list` shows it.")
        var id: String

        func run() async throws {
            try await withLedger(options) { ledger in
                guard try await ledger.revokeKey(id: id) else {
                    throw ValidationError("no key with id '\(id)'; see `deja keys list`")
                }
                print("revoked \(id)")
            }
            let configuration = try DejaConfiguration.load(path: options.config)
            var logger = Logger(label: "deja")
            logger.logLevel = .warning
            do {
                try await KeyRevocations.announce(keyID: id, configuration: configuration, logger: logger)
            } catch {
                print("could not tell the running gateways through Redis (\(error)); they stop accepting the key within 5 s")
            }
        }
    }
}

/// Opens the configured ledger, runs `body`, and closes it.
func withLedger(_ options: ConfigOptions, _ body: (any Ledger) async throws -> Void) async throws {
    let configuration = try DejaConfiguration.load(path: options.config)
    var logger = Logger(label: "deja")
    logger.logLevel = .warning
    let ledger = try await DejaComponents.openLedger(configuration: configuration, logger: logger)
    do {
        try await body(ledger)
    } catch {
        try? await ledger.close()
        throw error
    }
    try await ledger.close()
}
