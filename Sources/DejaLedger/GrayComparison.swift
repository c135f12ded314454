/// One shadow comparison of a gray release: a stable-version miss whose request was also sent to the
/// candidate version (unbilled, never served), and whether the two answers agree.
///
/// Holds digests of the answers, never the answers themselves: they may hold personal data.
public struct GrayComparison: Sendable, Equatable, Codable {
    /// When the comparison was made (seconds since 1970).
    public var time: Double
    public var task: String
    /// The model version that served the request.
    public var stableVersion: String
    /// The model version that was asked in the shadow.
    public var candidateVersion: String
    /// The request's content key (stable version), as 64 hex digits.
    public var key: String
    /// Whether the answers mean the same for the task's protocol (``DejaGateway/TaskProtocol/comparable(_:)``).
    public var agree: Bool
    /// Where the answers first differ, without the values (e.g. `$.pages[0].texts: length 12 vs 11`);
    /// `nil` when they agree.
    public var difference: String?
    /// SHA-256 (hex) of the stable answer's comparable form.
    public var stableDigest: String
    /// SHA-256 (hex) of the candidate answer's comparable form.
    public var candidateDigest: String

    public init(
        time: Double, task: String, stableVersion: String, candidateVersion: String, key: String, agree: Bool,
        difference: String?, stableDigest: String, candidateDigest: String
    ) {
        self.time = time
        self.task = task
        self.stableVersion = stableVersion
        self.candidateVersion = candidateVersion
        self.key = key
        self.agree = agree
        self.difference = difference
        self.stableDigest = stableDigest
        self.candidateDigest = candidateDigest
    }
}

/// The shadow comparisons of one task and pair of versions: how many, how many agreed, and the most
/// recent disagreements.
public struct GrayReportRow: Sendable, Equatable, Codable {
    public var task: String
    public var stableVersion: String
    public var candidateVersion: String
    public var compared: Int64
    public var agreed: Int64
    /// The most recent disagreements, newest first.
    public var examples: [GrayComparison]

    public init(task: String, stableVersion: String, candidateVersion: String, compared: Int64, agreed: Int64, examples: [GrayComparison]) {
        self.task = task
        self.stableVersion = stableVersion
        self.candidateVersion = candidateVersion
        self.compared = compared
        self.agreed = agreed
        self.examples = examples
    }

    /// Agreed ÷ compared (0 when nothing was compared).
    public var agreement: Double { compared == 0 ? 0 : Double(agreed) / Double(compared) }
}

/// What a gray report covers.
public struct GrayQuery: Sendable, Equatable {
    /// Only this task (default: every task).
    public var task: String?
    /// Only comparisons made at or after this time (seconds since 1970).
    public var since: Double?
    /// How many disagreements to show per task and version pair.
    public var examples: Int

    public init(task: String? = nil, since: Double? = nil, examples: Int = 5) {
        self.task = task
        self.since = since
        self.examples = examples
    }

    /// The SQL condition and its values (`?` placeholders, numbered from `$1` for PostgreSQL).
    func condition(postgres: Bool) -> (sql: String, binds: [ReportSQL.Value]) {
        var clauses: [String] = []
        var binds: [ReportSQL.Value] = []
        func placeholder() -> String { postgres ? "$\(binds.count)" : "?" }
        if let task {
            binds.append(.text(task))
            clauses.append("task = \(placeholder())")
        }
        if let since {
            binds.append(.double(since))
            clauses.append("time >= \(placeholder())")
        }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), binds)
    }

    /// The report's two statements: counts per task and version pair, and the disagreements, newest
    /// first, numbered within their pair (so the caller keeps the first `examples` of each).
    func statements(postgres: Bool) -> (counts: String, disagreements: String, binds: [ReportSQL.Value]) {
        let (condition, binds) = condition(postgres: postgres)
        let agreed = postgres ? "agree" : "agree = 1"
        let counts = """
            SELECT task, stable_version, candidate_version, count(*) AS compared,
                   sum(CASE WHEN \(agreed) THEN 1 ELSE 0 END) AS agreed
            FROM gray_comparisons \(condition)
            GROUP BY task, stable_version, candidate_version ORDER BY task, stable_version, candidate_version
            """
        let disagreed = condition.isEmpty ? "WHERE NOT \(agreed)" : "\(condition) AND NOT \(agreed)"
        let disagreements = """
            SELECT * FROM (
                SELECT time, task, stable_version, candidate_version, content_key, difference, stable_digest, candidate_digest,
                       row_number() OVER (PARTITION BY task, stable_version, candidate_version ORDER BY time DESC, id DESC) AS n
                FROM gray_comparisons \(disagreed)
            ) ranked WHERE n <= \(max(0, examples)) ORDER BY task, stable_version, candidate_version, n
            """
        return (counts, disagreements, binds)
    }

    /// The report's rows from the counts and the disagreements the statements read.
    static func rows(counts: [GrayReportRow], disagreements: [GrayComparison]) -> [GrayReportRow] {
        counts.map { row in
            var row = row
            row.examples = disagreements.filter {
                $0.task == row.task && $0.stableVersion == row.stableVersion && $0.candidateVersion == row.candidateVersion
            }
            return row
        }
    }
}
