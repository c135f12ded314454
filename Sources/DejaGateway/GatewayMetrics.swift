import DejaCore
import DejaLedger
import Metrics

/// The gateway's metrics, created once per (task, outcome) so the hit path never looks a metric up.
///
/// Labels are bounded: task names come from configuration and outcomes from a fixed set; content keys
/// never become labels.
public struct GatewayMetrics: Sendable {
    private struct Series: Sendable {
        let requests: Counter
        let latency: Timer
        let meteredTokens: Counter
        let billedTokens: Counter
    }

    private let series: [String: [Outcome: Series]]
    private let canonicalizations: [String: Counter]
    private let keptEntries: [String: Counter]
    private let sensitive: [String: [SensitiveKind: [SensitivePolicy.Action: Counter]]]
    private let shadows: [String: [ShadowResult: Counter]]
    private let pages: [String: [PageEvent: Counter]]

    /// How a gray release's shadow comparison ended.
    public enum ShadowResult: String, Sendable, CaseIterable {
        /// The candidate's answer means the same as the stable one.
        case agreed
        /// It does not.
        case disagreed
        /// The candidate did not answer (failure, rejection, breaker open, queue full).
        case failed
        /// Not made: as many shadow calls as allowed were in flight.
        case dropped
    }

    /// What happened to pages in the page memo.
    public enum PageEvent: String, Sendable, CaseIterable {
        /// A page of a document's answer was stored under its page key.
        case stored
        /// A page's stored answer was part of a document answered without the model.
        case served
    }

    /// Creates the series for `tasks` through the bootstrapped metrics backend.
    public init(tasks: [String]) {
        var series: [String: [Outcome: Series]] = [:]
        for task in tasks {
            var byOutcome: [Outcome: Series] = [:]
            for outcome in Outcome.allCases {
                let dimensions = [("task", task), ("outcome", outcome.rawValue)]
                byOutcome[outcome] = Series(
                    requests: Counter(label: "deja_requests_total", dimensions: dimensions),
                    latency: Timer(label: "deja_request_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds),
                    meteredTokens: Counter(label: "deja_metered_tokens_total", dimensions: dimensions),
                    billedTokens: Counter(label: "deja_billed_tokens_total", dimensions: dimensions)
                )
            }
            series[task] = byOutcome
        }
        self.series = series
        self.canonicalizations = Dictionary(
            tasks.map { ($0, Counter(label: "deja_canonical_forms_total", dimensions: [("task", $0)])) },
            uniquingKeysWith: { first, _ in first })
        self.keptEntries = Dictionary(
            tasks.map { ($0, Counter(label: "deja_refresh_kept_total", dimensions: [("task", $0)])) },
            uniquingKeysWith: { first, _ in first })
        var sensitive: [String: [SensitiveKind: [SensitivePolicy.Action: Counter]]] = [:]
        for task in tasks {
            for kind in SensitiveKind.allCases {
                for action in SensitivePolicy.Action.allCases {
                    sensitive[task, default: [:]][kind, default: [:]][action] = Counter(
                        label: "deja_sensitive_matches_total",
                        dimensions: [("task", task), ("kind", kind.rawValue), ("action", action.rawValue)])
                }
            }
        }
        self.sensitive = sensitive
        var shadows: [String: [ShadowResult: Counter]] = [:]
        for task in tasks {
            for result in ShadowResult.allCases {
                shadows[task, default: [:]][result] = Counter(
                    label: "deja_gray_shadow_total", dimensions: [("task", task), ("result", result.rawValue)])
            }
        }
        self.shadows = shadows
        var pages: [String: [PageEvent: Counter]] = [:]
        for task in tasks {
            for event in PageEvent.allCases {
                pages[task, default: [:]][event] = Counter(
                    label: "deja_page_memo_pages_total", dimensions: [("task", task), ("event", event.rawValue)])
            }
        }
        self.pages = pages
    }

    /// Counts one shadow comparison of a gray release, by how it ended.
    public func countShadow(task: String, _ result: ShadowResult) {
        shadows[task]?[result]?.increment()
    }

    /// Counts what the detectors found in one answer (and its input), by kind and the task's action.
    public func countSensitive(task: String, _ screening: SensitivePolicy.Screening) {
        for found in screening.matches {
            sensitive[task]?[found.match.kind]?[found.action]?.increment()
        }
    }

    /// Counts a `no-cache` answer that was not stored because it differs from the shared one.
    public func countKeptEntry(task: String) {
        keptEntries[task]?.increment()
    }

    /// Counts pages of documents stored in the page memo (`event="stored"`) or answered from it (`event="served"`).
    public func countPages(task: String, event: PageEvent, _ count: Int) {
        pages[task]?[event]?.increment(by: Int64(count))
    }

    /// Counts one canonical form built (a body not answered by the memo or a shared alias).
    public func countCanonicalization(task: String) {
        canonicalizations[task]?.increment()
    }

    /// Counts one request.
    public func record(task: String, outcome: Outcome, seconds: Double, tokens: Int64, billed: Int64) {
        guard let series = series[task]?[outcome] else { return }
        series.requests.increment()
        series.latency.recordNanoseconds(Int64(max(0, seconds) * 1e9))
        if tokens > 0 { series.meteredTokens.increment(by: tokens) }
        if billed > 0 { series.billedTokens.increment(by: billed) }
    }
}
