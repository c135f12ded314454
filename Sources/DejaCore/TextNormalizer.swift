/// Applies a ``TextRule`` to every string value in a JSON value and counts the strings it changed.
struct TextNormalizer {
    let rule: TextRule
    /// Longest string of a request, in UTF-8 bytes (``TaskPolicy/maxTextBytes``).
    let maxBytes: Int
    private(set) var changedCount = 0
    /// Bytes the request's strings grew by when normalised (NFKC expands some characters eighteenfold).
    private(set) var grownBytes = 0
    /// Whether ``normalize(_:member:)`` keeps the strings it changes in ``changes``.
    let recordsChanges: Bool
    /// The strings changed since the last ``takeChanges()``, when ``recordsChanges``.
    private var changes: [TextChange] = []

    init(rule: TextRule, maxBytes: Int = .max, recordsChanges: Bool = false) {
        self.rule = rule
        self.maxBytes = maxBytes
        self.recordsChanges = recordsChanges
    }

    init(form: TextNormalization) { self.init(rule: TextRule(form: form)) }

    /// `value` from a request with every string in it normalised.
    ///
    /// - Throws: ``CanonicalError/Code/limitExceeded`` at the string's path (`$.text`, `$.items[3]`) when a
    ///   string is longer than ``maxBytes``, or when the rule normalises and the string holds more than
    ///   ``TextBoundary/maxUnbrokenRun`` scalars in a row that no normalisation piece may start with, or
    ///   when its normalised form is longer than ``maxBytes``.
    mutating func normalize(_ value: JSONValue, member: String) throws(CanonicalError) -> JSONValue {
        var path: [JSONPath.Component] = [.key(member)]
        return try Self.map(value, path: &path) { (string: String, path: [JSONPath.Component]) throws(CanonicalError) in
            try check(string, path: path)
            let normalized = normalize(string)
            let before = string.utf8.count, after = normalized.utf8.count
            if after > maxBytes {
                throw CanonicalError(
                    .limitExceeded, path: JSONPath.render(path),
                    message: "is a text of \(before) bytes that grows to \(after) bytes once normalised, more than this task's limit of \(maxBytes) bytes (maxTextBytes); send less text in one member"
                )
            }
            grownBytes += max(0, after - before)
            if recordsChanges, !normalized.utf8.elementsEqual(string.utf8) {
                changes.append(TextChange(path: JSONPath.render(path), rule: rule, before: string, after: normalized))
            }
            return normalized
        }
    }

    /// The strings changed since the last call, in document order; empty unless ``recordsChanges``.
    mutating func takeChanges() -> [TextChange] {
        defer { changes.removeAll() }
        return changes
    }

    /// `value` (from configuration, trusted) with every string in it normalised, without limits.
    mutating func normalize(_ value: JSONValue) -> JSONValue {
        var path: [JSONPath.Component] = []
        return Self.map(value, path: &path) { (string: String, _) in normalize(string) }
    }

    mutating func normalize(_ string: String) -> String {
        let normalized = rule.apply(to: string)
        if !normalized.utf8.elementsEqual(string.utf8) { changedCount += 1 }
        return normalized
    }

    private func check(_ string: String, path: [JSONPath.Component]) throws(CanonicalError) {
        let bytes = string.utf8.count
        if bytes > maxBytes {
            throw CanonicalError(
                .limitExceeded, path: JSONPath.render(path),
                message: "is a text of \(bytes) bytes, more than this task's limit of \(maxBytes) bytes (maxTextBytes); send less text in one member, or raise the task's maxTextBytes"
            )
        }
        guard rule.form != .none else { return }
        let run = TextBoundary.longestUnbrokenRun(in: string)
        if run > TextBoundary.maxUnbrokenRun {
            throw CanonicalError(
                .limitExceeded, path: JSONPath.render(path),
                message: "has \(run) combining marks (or vowel signs or jamo) in a row, more than the limit of \(TextBoundary.maxUnbrokenRun) for text that is Unicode-normalised; send text with at most \(TextBoundary.maxUnbrokenRun) marks on one character"
            )
        }
    }

    /// `value` with `transform` applied to every string in it; `path` is the string's location.
    private static func map<E: Error>(
        _ value: JSONValue,
        path: inout [JSONPath.Component],
        _ transform: (String, [JSONPath.Component]) throws(E) -> String
    ) throws(E) -> JSONValue {
        switch value {
        case .string(let string):
            return .string(try transform(string, path))
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                path.append(.index(index))
                result.append(try map(element, path: &path, transform))
                path.removeLast()
            }
            return .array(result)
        case .object(let members):
            var result: [(key: String, value: JSONValue)] = []
            result.reserveCapacity(members.count)
            for member in members {
                path.append(.key(member.key))
                result.append((key: member.key, value: try map(member.value, path: &path, transform)))
                path.removeLast()
            }
            return .object(result)
        case .null, .bool, .number:
            return value
        }
    }
}
