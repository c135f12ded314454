@testable import DejaLedger
import DejaCore
import Foundation
import Testing

/// The gray release's shadow comparisons, over both backends: recorded durably, counted per task and
/// version pair, filtered by task and time, with the most recent disagreements as examples.
@Suite struct LedgerGrayTests {
    let clock = ManualClock(start: newYear2026)

    func comparison(
        _ n: Int, task: String = "ocr", stable: String = "v1", candidate: String = "v2", agree: Bool, at time: Double
    ) -> GrayComparison {
        GrayComparison(
            time: time, task: task, stableVersion: stable, candidateVersion: candidate,
            key: String(repeating: String(n % 10), count: 64), agree: agree,
            difference: agree ? nil : "$.pages[0].texts: \(n) elements vs 0",
            stableDigest: String(repeating: "a", count: 64), candidateDigest: String(repeating: agree ? "a" : "b", count: 64))
    }

    @Test(arguments: Backend.enabled)
    func countsAgreementsPerTaskAndVersionPair(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            #expect(try await ledger.grayReport(GrayQuery()).isEmpty)
            for n in 0..<6 {
                try await ledger.recordComparison(comparison(n, agree: n % 3 != 0, at: newYear2026 + Double(n)))
            }
            try await ledger.recordComparison(comparison(7, stable: "v1", candidate: "v3", agree: true, at: newYear2026))
            try await ledger.recordComparison(comparison(8, task: "sentiment", agree: false, at: newYear2026 + 10))

            let rows = try await ledger.grayReport(GrayQuery(examples: 5))
            #expect(rows.map { "\($0.task) \($0.stableVersion)->\($0.candidateVersion) \($0.agreed)/\($0.compared)" } == [
                "ocr v1->v2 4/6", "ocr v1->v3 1/1", "sentiment v1->v2 0/1",
            ])
            // Disagreements of ocr v1->v2 were n = 0 and 3: the newest first, every field kept.
            let examples = rows[0].examples
            #expect(examples.map(\.difference) == ["$.pages[0].texts: 3 elements vs 0", "$.pages[0].texts: 0 elements vs 0"])
            #expect(examples.first == comparison(3, agree: false, at: newYear2026 + 3))
            #expect(rows[1].examples.isEmpty)
            #expect(abs(rows[0].agreement - 4.0 / 6) < 1e-12)
        }
    }

    @Test(arguments: Backend.enabled)
    func filtersByTaskAndTimeAndLimitsExamples(_ backend: Backend) async throws {
        try await withLedger(backend, clock: clock) { ledger in
            for n in 0..<6 {
                try await ledger.recordComparison(comparison(n, agree: false, at: newYear2026 + Double(n) * 100))
            }
            try await ledger.recordComparison(comparison(9, task: "sentiment", agree: true, at: newYear2026 + 1_000))

            let recent = try await ledger.grayReport(GrayQuery(task: "ocr", since: newYear2026 + 250, examples: 2))
            #expect(recent.count == 1)
            #expect(recent.first?.compared == 3)  // n = 3, 4, 5
            #expect(recent.first?.examples.map(\.time) == [newYear2026 + 500, newYear2026 + 400])

            let sentiment = try await ledger.grayReport(GrayQuery(task: "sentiment", examples: 0))
            #expect(sentiment.map(\.compared) == [1])
            #expect(sentiment.first?.agreed == 1)
            #expect(try await ledger.grayReport(GrayQuery(task: "nope")).isEmpty)
        }
    }
}
