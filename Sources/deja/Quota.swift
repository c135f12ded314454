import ArgumentParser
import DejaLedger
import DejaServer
import Foundation

struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Set, list and top up token budgets of tenants and keys.",
        discussion: "A miss reserves its tokens before the model call; a miss the budget cannot cover gets 429 and never reaches the model. Hits are allowed past an exhausted budget.",
        subcommands: [Set.self, List.self, TopUp.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a budget (replaces one of the same tenant, key and period).")

        @OptionGroup var options: ConfigOptions

        @Option(help: "The tenant.")
        var tenant: String

        @Option(help: "Only this key (default: the whole tenant).")
        var key: String?

        @Option(help: "day, month (UTC calendar) or prepaid (a balance that top-ups raise).")
        var period: String

        @Option(help: "Tokens per period, or the prepaid balance.")
        var limit: Int64

        func run() async throws {
            guard let period = QuotaPeriod(rawValue: period) else {
                throw ValidationError("--period must be day, month or prepaid, not '\(period)'")
            }
            guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
            try await withLedger(options) { ledger in
                try await ledger.setQuota(Quota(tenant: tenant, keyID: key, period: period, limit: limit))
                print("quota set: tenant \(tenant)\(key.map { ", key \($0)" } ?? ""), \(period.rawValue), \(limit) tokens")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's budgets.")

        @OptionGroup var options: ConfigOptions

        @Option(help: "The tenant.")
        var tenant: String

        func run() async throws {
            try await withLedger(options) { ledger in
                let quotas = try await ledger.quotas(tenant: tenant)
                let rows = quotas.map { [$0.tenant, $0.keyID ?? "(tenant)", $0.period.rawValue, "\($0.limit)"] }
                print(Table.render(header: ["TENANT", "KEY", "PERIOD", "LIMIT"], rows: rows))
            }
        }
    }

    struct TopUp: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "topup", abstract: "Add tokens to a prepaid balance.")

        @OptionGroup var options: ConfigOptions

        @Option(help: "The tenant.")
        var tenant: String

        @Option(help: "Only this key's balance (default: the tenant's).")
        var key: String?

        @Option(help: "Tokens to add.")
        var tokens: Int64

        func run() async throws {
            guard tokens > 0 else { throw ValidationError("--tokens must be positive") }
            try await withLedger(options) { ledger in
                try await ledger.topUp(tenant: tenant, keyID: key, tokens: tokens)
                print("topped up: tenant \(tenant)\(key.map { ", key \($0)" } ?? ""), +\(tokens) tokens")
            }
        }
    }
}
