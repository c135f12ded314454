/// Renders locations in a JSON document for error messages and notes: `$`, `$.file`, `$.items[3].name`.
///
/// Member names that are not plain identifiers are quoted (`$["a b"]`); names longer than 64 bytes are
/// replaced by their length so that messages stay short and carry no bulk content.
enum JSONPath {
    enum Component {
        case key(String)
        case index(Int)
    }

    static func render(_ components: [Component]) -> String {
        var result = "$"
        for component in components {
            switch component {
            case .key(let key):
                if isPlainIdentifier(key) {
                    result += "." + key
                } else {
                    result += "[" + quoted(key) + "]"
                }
            case .index(let index):
                result += "[\(index)]"
            }
        }
        return result
    }

    /// `$.<key>` for a top-level member.
    static func member(_ key: String) -> String { render([.key(key)]) }

    /// The member name as shown in notes: bare when a plain identifier, quoted otherwise.
    static func displayName(_ key: String) -> String {
        isPlainIdentifier(key) ? key : quoted(key)
    }

    private static func quoted(_ key: String) -> String {
        guard key.utf8.count <= 64 else { return "<name of \(key.utf8.count) bytes>" }
        var bytes: [UInt8] = []
        JSONWriter.writeString(key, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isPlainIdentifier(_ key: String) -> Bool {
        let utf8 = key.utf8
        guard let first = utf8.first, utf8.count <= 64, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                true
            default: false
            }
        }
    }
}
