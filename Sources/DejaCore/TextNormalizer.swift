/// Applies a ``TextRule`` to every string value in a JSON value and counts the strings it changed.
struct TextNormalizer {
    let rule: TextRule
    private(set) var changedCount = 0

    init(rule: TextRule) { self.rule = rule }

    init(form: TextNormalization) { self.init(rule: TextRule(form: form)) }

    mutating func normalize(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let string):
            return .string(normalize(string))
        case .array(let elements):
            var result: [JSONValue] = []
            result.reserveCapacity(elements.count)
            for element in elements { result.append(normalize(element)) }
            return .array(result)
        case .object(let members):
            var result: [(key: String, value: JSONValue)] = []
            result.reserveCapacity(members.count)
            for member in members { result.append((key: member.key, value: normalize(member.value))) }
            return .object(result)
        case .null, .bool, .number:
            return value
        }
    }

    mutating func normalize(_ string: String) -> String {
        let normalized = rule.apply(to: string)
        if !normalized.utf8.elementsEqual(string.utf8) { changedCount += 1 }
        return normalized
    }
}
