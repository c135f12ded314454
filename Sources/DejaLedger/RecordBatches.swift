/// Bookkeeping for group commit: `record` calls queue their batches here, and whichever caller holds the
/// write gate commits every queued batch in one transaction and leaves each batch's result for its caller.
struct RecordBatches {
    private var nextTicket = 0
    private var pending: [(ticket: Int, records: [UsageRecord], settling: [String])] = []
    private var results: [Int: Result<Void, LedgerError>] = [:]

    /// Queues `records` and the ids of the reservations they settle; returns the ticket to collect the result with.
    mutating func enqueue(_ records: [UsageRecord], settling: [String] = []) -> Int {
        nextTicket += 1
        pending.append((nextTicket, records, settling))
        return nextTicket
    }

    /// The result of `ticket`'s batch if another caller already committed (or failed) it.
    mutating func takeResult(_ ticket: Int) -> Result<Void, LedgerError>? {
        results.removeValue(forKey: ticket)
    }

    /// Takes every queued batch.
    mutating func drain() -> [(ticket: Int, records: [UsageRecord], settling: [String])] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending
    }

    /// Leaves `result` for the callers holding `tickets`.
    mutating func settle(_ tickets: some Sequence<Int>, _ result: Result<Void, LedgerError>) {
        for ticket in tickets { results[ticket] = result }
    }
}
