import ArgumentParser

@main
struct Deja: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deja",
        abstract: "A memoizing gateway for AI inference: repeats are answered from cache and billed zero tokens.",
        subcommands: [Serve.self, Keys.self, QuotaCommand.self, Usage.self, Explain.self, Warm.self, Purge.self, Capacity.self, Gray.self]
    )
}

/// Options every verb that reads configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The YAML configuration file (default: built-in defaults; DEJA_* variables override either).")
    var config: String?
}
