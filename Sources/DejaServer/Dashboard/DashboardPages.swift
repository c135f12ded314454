import DejaCore

/// The layout around every dashboard page.
struct LayoutView: Sendable {
    var l: DashboardLabels
    var css: String
    var refresh: Bool
    var content: String
}

/// The sign-in page.
struct LoginView: Sendable {
    var l: DashboardLabels
    var failed: Bool
    var langLink: String
}

/// The page of one content key.
struct KeyView: Sendable {
    struct Memory: Sendable {
        var expires: String
        var size: String
    }

    struct Explanation: Sendable {
        var same: Bool
        var verdict: String
        var verdictClass: String
        var key: String
        var steps: [String]
        var hasTextChanges: Bool
        var textChanges: [RequestExplanation.TextChange]
        var canonicalForm: String

        init(_ explained: RequestExplanation, against key: CacheKey, labels l: DashboardLabels) {
            same = explained.key == key.hex
            verdict = same ? l.sameKey : l.otherKey
            verdictClass = same ? "good" : "bad"
            self.key = explained.key
            steps = explained.steps
            hasTextChanges = !explained.textChanges.isEmpty
            textChanges = explained.textChanges
            // A canonical form can hold a whole document; the page shows its start.
            canonicalForm = explained.canonicalForm.count > 4096 ? String(explained.canonicalForm.prefix(4096)) + " …" : explained.canonicalForm
        }
    }

    var l: DashboardLabels
    var isAdmin: Bool
    var tenantName: String
    var periods: [DashboardView.Link]
    var refreshLink: String
    var refreshState: String
    var langLink: String
    var backLink: String
    var key: String
    var from: String
    var to: String
    var periodText: String
    var hasStats: Bool
    var stats: [DashboardView.Repeated]
    var memory: Memory?
    var explainAction: String
    var taskOptions: [DashboardView.Option]
    var body: String
    var explanation: Explanation?
    var explainError: String?
    var route: String
    var explainTenant: String
}
