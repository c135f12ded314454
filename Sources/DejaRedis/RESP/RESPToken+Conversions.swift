import NIOCore

extension RESPToken {
    /// Whether this is an error reply (simple or bulk).
    public var isError: Bool { type == .simpleError || type == .bulkError }

    /// For an error reply, its text.
    public var errorText: String? {
        switch value {
        case .simpleError(let text), .bulkError(let text): String(buffer: text)
        default: nil
        }
    }

    /// The bytes of a simple, bulk or verbatim string; `nil` for null. Throws for other types.
    public func bytes() throws(RedisError) -> ByteBuffer? {
        switch value {
        case .simpleString(let bytes), .bulkString(let bytes): return bytes
        case .verbatimString(_, let text): return text
        case .null: return nil
        default: throw .unexpected("expected a string reply, got \(type)")
        }
    }

    /// The text of a simple, bulk or verbatim string; throws for null and other types.
    public func string() throws(RedisError) -> String {
        guard let bytes = try bytes() else { throw .unexpected("expected a string reply, got null") }
        return String(buffer: bytes)
    }

    /// An integer reply (also a string holding a decimal integer).
    public func integer() throws(RedisError) -> Int64 {
        switch value {
        case .integer(let value): return value
        case .simpleString(let bytes), .bulkString(let bytes):
            if let value = RESPParser.parseInteger(bytes) { return value }
        default: break
        }
        throw .unexpected("expected an integer reply, got \(type)")
    }

    /// The elements of an array, set or push; throws for other types.
    public func array() throws(RedisError) -> [RESPToken] {
        switch value {
        case .array(let array), .set(let array), .push(let array): return Swift.Array(array)
        default: throw .unexpected("expected an array reply, got \(type)")
        }
    }

    /// The pairs of a map, or of an array of alternating keys and values (RESP2); keys as text.
    public func keyedPairs() throws(RedisError) -> [(key: String, value: RESPToken)] {
        switch value {
        case .map(let map):
            var pairs: [(key: String, value: RESPToken)] = []
            for (key, value) in map { pairs.append((try key.string(), value)) }
            return pairs
        case .array(let array):
            let elements = Swift.Array(array)
            guard elements.count % 2 == 0 else { throw .unexpected("expected key/value pairs") }
            return try stride(from: 0, to: elements.count, by: 2).map { (index: Int) throws(RedisError) in
                (try elements[index].string(), elements[index + 1])
            }
        default: throw .unexpected("expected a map reply, got \(type)")
        }
    }
}
