import NIOCore

/// The top-level members of a JSON object as the bytes that spell them, for passing a document on
/// byte for byte with some members left out (numbers as their writer wrote them, no re-serialisation).
public enum JSONMembers {
    /// One member: its unescaped name and the range of `"name": value` in the document.
    public struct Member: Sendable, Equatable {
        public var name: String
        public var range: Range<Int>
    }

    /// The top-level members of `bytes`, which must be one valid JSON object (check it with
    /// ``JSONValue/init(parsing:limits:)`` first); `nil` if it is not an object. Linear in the input;
    /// never reads out of bounds, whatever the input.
    public static func scan<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes) -> [Member]? where Bytes.Index == Int {
        precondition(bytes.startIndex == 0, "scan reads a collection indexed from 0")
        var index = skipSpace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var members: [Member] = []
        while true {
            index = skipSpace(bytes, index)
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") { return members }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            let start = index
            let nameEnd = skipString(bytes, index)
            guard bytes[start] == UInt8(ascii: "\""), nameEnd <= bytes.count, let name = try? JSONValue(parsing: bytes[start..<nameEnd]).stringValue else { return nil }
            index = skipSpace(bytes, nameEnd)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index = skipValue(bytes, skipSpace(bytes, index + 1))
            guard index <= bytes.count else { return nil }
            members.append(Member(name: name, range: start..<index))
        }
    }

    /// `bytes` as an object of its top-level members but those named in `dropping`, each member spelled
    /// exactly as in `bytes`; `nil` if `bytes` is not an object.
    ///
    /// The value of the member named `name` (the last such), as a JSON value; `nil` if there is none.
    public static func value<Bytes: RandomAccessCollection<UInt8>>(of name: String, in bytes: Bytes) -> JSONValue?
    where Bytes.Index == Int {
        guard let member = scan(bytes)?.last(where: { $0.name == name }) else { return nil }
        let spelled = bytes[member.range]
        guard let colon = spelled.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return try? JSONValue(parsing: spelled[(colon + 1)...])
    }

    /// `bytes` as an object of its top-level members but those named in `dropping`, each member spelled
    /// exactly as in `bytes`; `nil` if `bytes` is not an object.
    public static func object<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, dropping names: Set<String>) -> [UInt8]?
    where Bytes.Index == Int {
        guard let members = scan(bytes) else { return nil }
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(bytes.count + 1)
        var first = true
        for member in members where !names.contains(member.name) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: bytes[member.range])
            first = false
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The value of the member named `name` (the last such) of the object `bytes`, spelled exactly as in
    /// `bytes` (white space around it trimmed); `nil` if `bytes` is not an object or has no such member.
    public static func spelling(of name: String, in bytes: [UInt8]) -> [UInt8]? {
        guard let member = scan(bytes)?.last(where: { $0.name == name }) else { return nil }
        let nameEnd = skipString(bytes, member.range.lowerBound)
        let colon = skipSpace(bytes, nameEnd)
        guard colon < member.range.upperBound, bytes[colon] == UInt8(ascii: ":") else { return nil }
        let start = skipSpace(bytes, colon + 1)
        guard start < member.range.upperBound else { return nil }
        return Array(bytes[start..<member.range.upperBound])
    }

    /// The elements of the array `bytes` (one valid JSON array), each spelled exactly as in `bytes`;
    /// `nil` if `bytes` is not an array. Linear in the input; never reads out of bounds.
    public static func elements(of bytes: [UInt8]) -> [[UInt8]]? {
        var index = skipSpace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var elements: [[UInt8]] = []
        while true {
            index = skipSpace(bytes, index)
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "]") { return elements }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            let start = index
            index = skipValue(bytes, index)
            guard index <= bytes.count, index > start else { return nil }
            elements.append(Array(bytes[start..<index]))
        }
    }

    /// ``value(of:in:)`` over the readable bytes of `buffer`, without copying them.
    public static func value(of name: String, in buffer: ByteBuffer) -> JSONValue? {
        buffer.withUnsafeReadableBytes { value(of: name, in: $0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// ``object(_:dropping:)`` over the readable bytes of `buffer`, without copying them first.
    public static func object(_ buffer: ByteBuffer, dropping names: Set<String>) -> [UInt8]? {
        buffer.withUnsafeReadableBytes { object($0.assumingMemoryBound(to: UInt8.self), dropping: names) }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func skipSpace<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, _ start: Int) -> Int where Bytes.Index == Int {
        var index = start
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        return index
    }

    /// The index just past the string starting at `start` (a `"`).
    private static func skipString<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, _ start: Int) -> Int where Bytes.Index == Int {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return index
    }

    /// The index just past the value starting at `start`.
    private static func skipValue<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, _ start: Int) -> Int where Bytes.Index == Int {
        var index = start
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index = skipString(bytes, index)
                if depth == 0 { return index }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return index }  // the enclosing object's end: a scalar ended before it
                depth -= 1
                if depth == 0 { return index + 1 }
            case UInt8(ascii: ","):
                if depth == 0 { return index }
            default:
                if depth == 0, isSpace(byte) { return index }
            }
            index += 1
        }
        return index
    }
}
