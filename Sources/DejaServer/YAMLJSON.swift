import DejaCore

/// A JSON value written in YAML configuration (declared defaults).
public enum YAMLJSON: Sendable, Codable, Equatable {
    case null
    case bool(Bool)
    /// A number, kept as its decimal spelling so nothing is lost to floating point.
    case number(String)
    case string(String)
    case array([YAMLJSON])
    case object([String: YAMLJSON])

    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [YAMLJSON] = []
            while !array.isAtEnd { items.append(try array.decode(YAMLJSON.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyCodingKey.self) {
            var members: [String: YAMLJSON] = [:]
            for key in object.allKeys { members[key.stringValue] = try object.decode(YAMLJSON.self, forKey: key) }
            self = .object(members)
            return
        }
        let scalar = try decoder.singleValueContainer()
        if scalar.decodeNil() {
            self = .null
        } else if let value = try? scalar.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? scalar.decode(Int64.self) {
            self = .number(String(value))
        } else if let value = try? scalar.decode(Double.self), value.isFinite {
            self = .number("\(value)")
        } else {
            self = .string(try scalar.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(Double(value) ?? 0)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value as a JSON value for the canonical form.
    public func jsonValue() throws -> JSONValue {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .number(let spelling): return try JSONValue(parsing: Array(spelling.utf8))
        case .string(let value): return .string(value)
        case .array(let items): return .array(try items.map { try $0.jsonValue() })
        case .object(let members):
            return .object(try members.sorted { $0.key < $1.key }.map { (key: $0.key, value: try $0.value.jsonValue()) })
        }
    }
}

/// A coding key for any string; used to read maps and to find unknown configuration keys.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
