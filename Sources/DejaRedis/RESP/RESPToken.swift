import NIOCore

/// One complete, validated RESP2/RESP3 value, holding exactly its bytes.
///
/// A token is created only by ``init(consuming:limits:)``, which checks every byte first, so reading its
/// ``value`` (and iterating nested aggregates) never fails. Nested values share the token's storage.
public struct RESPToken: Hashable, Sendable, CustomStringConvertible {
    /// The exact bytes of this value on the wire.
    public let base: ByteBuffer

    /// Takes one complete value off the front of `buffer`.
    ///
    /// Returns `nil`, leaving `buffer` untouched, when more bytes are needed. Throws ``RedisError`` with code
    /// `protocolError` on bytes that are not RESP, `tooLarge` when a declared length or count exceeds
    /// `limits`, `tooDeep` when aggregates nest deeper than `limits.maxDepth`.
    public init?(consuming buffer: inout ByteBuffer, limits: RESPLimits = .default) throws(RedisError) {
        let parser = RESPParser(buffer: buffer, limits: limits)
        guard let end = try parser.validate(at: buffer.readerIndex, depth: 1) else { return nil }
        self.base = buffer.readSlice(length: end - buffer.readerIndex)!
    }

    /// A token over bytes already validated by the parser.
    init(validated base: ByteBuffer) { self.base = base }

    /// The decoded value.
    public var value: Value { RESPParser.value(of: base) }

    /// The type identifier (first byte).
    public var type: RESPTypeIdentifier { RESPTypeIdentifier(rawValue: base.getInteger(at: base.readerIndex)!)! }

    /// The value's type and size, never its content.
    public var description: String { "RESPToken(\(type), \(base.readableBytes) bytes)" }

    /// A decoded RESP value.
    public enum Value: Hashable, Sendable {
        /// `+OK\r\n`
        case simpleString(ByteBuffer)
        /// `-ERR message\r\n`
        case simpleError(ByteBuffer)
        /// `:42\r\n`
        case integer(Int64)
        /// `$5\r\nhello\r\n`
        case bulkString(ByteBuffer)
        /// `_\r\n`, or RESP2's `$-1\r\n` and `*-1\r\n`.
        case null
        /// `#t\r\n` / `#f\r\n`
        case boolean(Bool)
        /// `,1.5\r\n`, also `inf`, `-inf` and `nan`.
        case double(Double)
        /// `(123…\r\n`: the digits, with an optional leading `-`.
        case bigNumber(ByteBuffer)
        /// `!21\r\nSYNTAX invalid syntax\r\n`
        case bulkError(ByteBuffer)
        /// `=15\r\ntxt:Some string\r\n`: the three-letter format and the text.
        case verbatimString(format: String, text: ByteBuffer)
        /// `*2\r\n…`
        case array(Array)
        /// `%1\r\n…`
        case map(Map)
        /// `~2\r\n…`
        case set(Array)
        /// `|1\r\n…`: out-of-band data about the next value; not part of the reply.
        case attribute(Map)
        /// `>3\r\n…`: a server push (pub/sub messages, invalidations).
        case push(Array)
    }

    /// The elements of an array, set or push; attributes in between are skipped.
    public struct Array: Sequence, Hashable, Sendable {
        /// How many elements.
        public let count: Int
        let elements: ByteBuffer

        public func makeIterator() -> Iterator { Iterator(buffer: elements) }

        public struct Iterator: IteratorProtocol {
            var buffer: ByteBuffer
            public mutating func next() -> RESPToken? { RESPParser.nextElement(&buffer) }
        }
    }

    /// The key/value pairs of a map or attribute.
    public struct Map: Sequence, Hashable, Sendable {
        /// How many pairs.
        public let count: Int
        let elements: ByteBuffer

        public func makeIterator() -> Iterator { Iterator(buffer: elements) }

        public struct Iterator: IteratorProtocol {
            var buffer: ByteBuffer
            public mutating func next() -> (key: RESPToken, value: RESPToken)? {
                guard let key = RESPParser.nextElement(&buffer), let value = RESPParser.nextElement(&buffer) else {
                    return nil
                }
                return (key, value)
            }
        }
    }
}
