extension JSONValue {
    /// Where `other` first differs from this value, in document order, as a short description without
    /// the values themselves (they may hold personal data): `$.result.label: strings differ`,
    /// `$.pages[0].texts: length 12 vs 11`, `$.pages[0].boxes[3][1]: numbers differ`. `nil` when the
    /// two are equal. Objects compare by member names, whatever their order; numbers by value.
    public func firstDifference(from other: JSONValue) -> String? {
        Self.difference(self, other, path: [])
    }

    private static func difference(_ a: JSONValue, _ b: JSONValue, path: [JSONPath.Component]) -> String? {
        let here = { (what: String) in "\(JSONPath.render(path)): \(what)" }
        switch (a, b) {
        case (.null, .null):
            return nil
        case (.bool(let x), .bool(let y)):
            return x == y ? nil : here("booleans differ")
        case (.number(let x), .number(let y)):
            return x == y ? nil : here("numbers differ")
        case (.string(let x), .string(let y)):
            return x.utf8.elementsEqual(y.utf8) ? nil : here("strings differ")
        case (.array(let x), .array(let y)):
            for (index, (left, right)) in zip(x, y).enumerated() {
                if let found = difference(left, right, path: path + [.index(index)]) { return found }
            }
            return x.count == y.count ? nil : here("length \(x.count) vs \(y.count)")
        case (.object(let x), .object(let y)):
            for member in x {
                guard let right = b[member.key] else { return here("member \(JSONPath.displayName(member.key)) only in the first") }
                if let found = difference(member.value, right, path: path + [.key(member.key)]) { return found }
            }
            for member in y where a[member.key] == nil {
                return here("member \(JSONPath.displayName(member.key)) only in the second")
            }
            return nil
        default:
            return here("\(a.kindName) vs \(b.kindName)")
        }
    }
}
