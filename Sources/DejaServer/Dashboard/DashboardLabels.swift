import Foundation

/// The dashboard's words, in English and in Chinese.
///
/// Chosen by the `lang` query parameter (`en`, `zh`), else by the browser's `Accept-Language`. The
/// templates read these fields by name.
struct DashboardLabels: Sendable {
    var lang: String
    var title: String
    var signIn: String
    var keyField: String
    var signInHint: String
    var signInFailed: String
    var signOut: String
    var allTenants: String
    var tenant: String
    var admin: String
    var show: String
    var last24h: String
    var last7d: String
    var last30d: String
    var autoRefresh: String
    var refreshOn: String
    var refreshOff: String
    var otherLanguage: String
    var otherLang: String
    var requests: String
    var hitRatio: String
    var billedTokens: String
    var savedTokens: String
    var modelTimeSaved: String
    var errors: String
    var requestsChart: String
    var tokensChart: String
    var hits: String
    var coalesced: String
    var misses: String
    var other: String
    var byTask: String
    var task: String
    var total: String
    var repeated: String
    var contentKey: String
    var fromCache: String
    var firstSeen: String
    var lastSeen: String
    var explain: String
    var nothing: String
    var errorsByKind: String
    var status: String
    var kind: String
    var cache: String
    var memoryTier: String
    var used: String
    var budget: String
    var entries: String
    var store: String
    var redisMemory: String
    var modelServers: String
    var server: String
    var health: String
    var breaker: String
    var periodNote: String
    var back: String
    var keyNotSeen: String
    var inMemory: String
    var notInMemory: String
    var expires: String
    var size: String
    var explainHint: String
    var requestBody: String
    var canonicalForm: String
    var steps: String
    var textChanges: String
    var sameKey: String
    var otherKey: String
    var cliHint: String

    /// The labels for a `lang` parameter or an `Accept-Language` header: Chinese for `zh…`, else English.
    static func choose(lang: String?, acceptLanguage: String?) -> DashboardLabels {
        if let lang { return lang.lowercased().hasPrefix("zh") ? .chinese : .english }
        // The first language range the browser lists decides; quality values are not weighed.
        let first = acceptLanguage?.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return first.hasPrefix("zh") ? .chinese : .english
    }

    /// What an error status means, in a few words.
    func errorKind(_ status: Int) -> String {
        let english = lang == "en"
        switch status {
        case 400: return english ? "bad input" : "请求无效"
        case 401: return english ? "unknown API key" : "API 密钥无效"
        case 403: return english ? "forbidden" : "无权访问"
        case 408: return english ? "body sent too slowly" : "请求体发送过慢"
        case 409: return english ? "idempotency conflict" : "幂等冲突"
        case 413: return english ? "request too large" : "请求过大"
        case 422: return english ? "model refused the input" : "模型拒绝了输入"
        case 429: return english ? "quota or rate limit" : "配额或限流"
        case 500: return english ? "internal error" : "内部错误"
        case 502: return english ? "model server failed" : "模型服务出错"
        case 503: return english ? "unavailable (model, ledger or overload)" : "不可用（模型、账本或过载）"
        case 504: return english ? "model server timed out" : "模型服务超时"
        default: return "HTTP \(status)"
        }
    }

    static let english = DashboardLabels(
        lang: "en", title: "Deja — cache savings", signIn: "Sign in", keyField: "API key or admin token",
        signInHint: "The key is kept in a session cookie for this site only (HttpOnly, SameSite=Strict), never in a URL. A tenant key shows that tenant's figures; the admin token shows every tenant's.",
        signInFailed: "Unknown or revoked key.", signOut: "Sign out", allTenants: "All tenants", tenant: "Tenant", admin: "admin",
        show: "Show", last24h: "Last 24 hours", last7d: "Last 7 days", last30d: "Last 30 days",
        autoRefresh: "Auto-refresh", refreshOn: "every 30 s", refreshOff: "off", otherLanguage: "中文", otherLang: "zh",
        requests: "Requests", hitRatio: "Hit ratio", billedTokens: "Tokens billed", savedTokens: "Tokens saved",
        modelTimeSaved: "Model time saved", errors: "Errors", requestsChart: "Requests", tokensChart: "Tokens billed and saved",
        hits: "Hits", coalesced: "Coalesced", misses: "Misses", other: "Other", byTask: "By task", task: "Task", total: "Total",
        repeated: "Most repeated requests", contentKey: "Content key", fromCache: "From cache", firstSeen: "First seen",
        lastSeen: "Last seen", explain: "Explain", nothing: "Nothing in this period.", errorsByKind: "Errors by kind",
        status: "Status", kind: "Kind", cache: "Cache", memoryTier: "Memory tier (this instance)", used: "Used", budget: "Budget",
        entries: "Entries", store: "Persistent store", redisMemory: "Redis memory", modelServers: "Model servers", server: "Server",
        health: "Health check", breaker: "Breaker", periodNote: "Figures are the ledger's, for",
        back: "Back to the dashboard", keyNotSeen: "No request with this key in this period.", inMemory: "In this instance's memory",
        notInMemory: "Not in this instance's memory", expires: "Expires", size: "Size",
        explainHint: "A content key is a digest: Deja never keeps the request itself. Paste a request body to see its canonical form, each step that changed it, and its key.",
        requestBody: "Request body (JSON)", canonicalForm: "Canonical form", steps: "Steps", textChanges: "Text changes",
        sameKey: "Same key as this one", otherKey: "A different key", cliHint: "From a shell:"
    )

    static let chinese = DashboardLabels(
        lang: "zh", title: "Deja — 缓存节省", signIn: "登录", keyField: "API 密钥或管理令牌",
        signInHint: "密钥只保存在本站的会话 Cookie 中（HttpOnly、SameSite=Strict），不会出现在网址里。租户密钥只显示该租户的数据；管理令牌显示所有租户。",
        signInFailed: "密钥无效或已吊销。", signOut: "退出", allTenants: "全部租户", tenant: "租户", admin: "管理员",
        show: "显示", last24h: "最近 24 小时", last7d: "最近 7 天", last30d: "最近 30 天",
        autoRefresh: "自动刷新", refreshOn: "每 30 秒", refreshOff: "关闭", otherLanguage: "English", otherLang: "en",
        requests: "请求数", hitRatio: "命中率", billedTokens: "计费 Token", savedTokens: "节省 Token",
        modelTimeSaved: "节省的模型时间", errors: "错误", requestsChart: "请求数", tokensChart: "计费与节省的 Token",
        hits: "命中", coalesced: "合并", misses: "未命中", other: "其他", byTask: "按任务", task: "任务", total: "合计",
        repeated: "重复最多的请求", contentKey: "内容键", fromCache: "来自缓存", firstSeen: "首次出现",
        lastSeen: "最近出现", explain: "解释", nothing: "此时段内没有数据。", errorsByKind: "按类型统计的错误",
        status: "状态码", kind: "类型", cache: "缓存", memoryTier: "内存层（本实例）", used: "已用", budget: "预算",
        entries: "条目", store: "持久存储", redisMemory: "Redis 内存", modelServers: "模型服务", server: "服务地址",
        health: "健康检查", breaker: "熔断器", periodNote: "数据来自账本，时段：",
        back: "返回仪表盘", keyNotSeen: "此时段内没有使用该键的请求。", inMemory: "在本实例的内存中",
        notInMemory: "不在本实例的内存中", expires: "过期时间", size: "大小",
        explainHint: "内容键是摘要：Deja 从不保存请求本身。粘贴请求体即可查看其规范形式、每个改变它的步骤以及它的键。",
        requestBody: "请求体（JSON）", canonicalForm: "规范形式", steps: "步骤", textChanges: "文本变化",
        sameKey: "与此键相同", otherKey: "不同的键", cliHint: "命令行："
    )
}
