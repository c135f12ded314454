import DejaCore

/// Which cache entries a purge removes: every condition set must hold.
///
/// Conditions read the metadata entries carry (``DejaCore/CacheEntry/task``, `modelVersion`,
/// ``DejaCore/CacheEntry/scopeTag``, `createdAt`). Entries written before entries carried a task and a
/// scope tag (codec versions 1 and 2, SQLite rows from before the metadata columns, Redis entries outside
/// the version index) match only a ``key`` filter or ``all``: their other conditions are unknown, and a
/// purge never removes what it cannot tell matches. They still expire at the end of their retention.
public struct PurgeFilter: Sendable, Hashable {
    /// Only entries of this task.
    public var task: String?
    /// Only entries produced by this model version.
    public var modelVersion: String?
    /// Only the entry under this content key.
    public var key: CacheKey?
    /// Only entries in this scope (``DejaCore/CacheEntry/scopeTag(scopeField:)`` of `shared` or `tenant:<id>`).
    public var scopeTag: UInt64?
    /// Only entries created before this time, seconds since 1970.
    public var createdBefore: Double?
    /// Every entry; the only way to purge without a condition, and ignored when a condition is set.
    public var all: Bool

    /// Creates a filter; with no condition and `all` false it matches nothing (``isEmpty``).
    public init(
        task: String? = nil, modelVersion: String? = nil, key: CacheKey? = nil, scopeTag: UInt64? = nil,
        createdBefore: Double? = nil, all: Bool = false
    ) {
        self.task = task
        self.modelVersion = modelVersion
        self.key = key
        self.scopeTag = scopeTag
        self.createdBefore = createdBefore
        self.all = all
    }

    /// Whether any condition is set.
    public var hasConditions: Bool {
        task != nil || modelVersion != nil || key != nil || scopeTag != nil || createdBefore != nil
    }

    /// Whether the filter matches nothing: no condition and not ``all``.
    public var isEmpty: Bool { !hasConditions && !all }

    /// Whether the entry stored under `key` is to be removed.
    public func matches(_ key: CacheKey, _ entry: CacheEntry) -> Bool {
        guard hasConditions else { return all }
        if let wanted = self.key, wanted != key { return false }
        if let task, entry.task != task { return false }
        if let modelVersion, entry.modelVersion != modelVersion || entry.task.isEmpty { return false }
        if let scopeTag, entry.scopeTag != scopeTag { return false }
        if let createdBefore, entry.createdAt >= createdBefore || entry.task.isEmpty { return false }
        return true
    }
}

extension PurgeFilter {
    /// The filter as one line of text, as instances announce it to each other: `name=value` fields joined
    /// by `&`, e.g. `task=ocr&version=v2`; keys, tags and times in hex, `%`, `&` and `=` in names
    /// percent-escaped.
    public var wireText: String {
        var fields: [String] = []
        if let task { fields.append("task=" + Self.escape(task)) }
        if let modelVersion { fields.append("version=" + Self.escape(modelVersion)) }
        if let key { fields.append("key=" + key.hex) }
        if let scopeTag { fields.append("scope=" + String(scopeTag, radix: 16)) }
        if let createdBefore { fields.append("before=" + String(createdBefore.bitPattern, radix: 16)) }
        if all { fields.append("all=1") }
        return fields.joined(separator: "&")
    }

    /// Parses ``wireText``; `nil` when a field is unknown or malformed, so a garbled message purges nothing.
    public init?(wireText: String) {
        self.init()
        for field in wireText.split(separator: "&") {
            guard let equals = field.firstIndex(of: "=") else { return nil }
            let name = field[..<equals], value = field[field.index(after: equals)...]
            switch name {
            case "task": task = Self.unescape(value)
            case "version": modelVersion = Self.unescape(value)
            case "key":
                guard let key = CacheKey(hex: value) else { return nil }
                self.key = key
            case "scope":
                guard let tag = UInt64(value, radix: 16) else { return nil }
                scopeTag = tag
            case "before":
                guard let bits = UInt64(value, radix: 16) else { return nil }
                createdBefore = Double(bitPattern: bits)
            case "all": all = value == "1"
            default: return nil
            }
        }
        guard !isEmpty else { return nil }
    }

    private static func escape(_ text: String) -> String {
        text.replacing("%", with: "%25").replacing("&", with: "%26").replacing("=", with: "%3D")
    }

    private static func unescape(_ text: Substring) -> String {
        String(text).replacing("%3D", with: "=").replacing("%26", with: "&").replacing("%25", with: "%")
    }
}
