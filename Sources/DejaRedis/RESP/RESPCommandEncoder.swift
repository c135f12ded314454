import NIOCore

/// Writes commands as RESP arrays of bulk strings into one reusable buffer.
public struct RESPCommandEncoder: Sendable {
    /// The encoded bytes so far.
    public var buffer: ByteBuffer

    /// An encoder writing into `buffer` (cleared first).
    public init(buffer: ByteBuffer = ByteBuffer()) {
        var buffer = buffer
        buffer.clear()
        self.buffer = buffer
    }

    /// Clears the buffer, keeping its capacity, so the encoder can be reused.
    public mutating func reset() { buffer.clear() }

    /// Appends one command: `*<n>\r\n` then each argument as `$<len>\r\n<bytes>\r\n`.
    public mutating func encode(_ arguments: [RESPArgument]) {
        buffer.writeInteger(RESPTypeIdentifier.array.rawValue)
        writeDecimal(arguments.count)
        for argument in arguments {
            switch argument {
            case .string(let text):
                buffer.writeInteger(RESPTypeIdentifier.bulkString.rawValue)
                writeDecimal(text.utf8.count)
                buffer.writeString(text)
            case .bytes(let bytes):
                buffer.writeInteger(RESPTypeIdentifier.bulkString.rawValue)
                writeDecimal(bytes.readableBytes)
                buffer.writeImmutableBuffer(bytes)
            case .integer(let value):
                let text = String(value)
                buffer.writeInteger(RESPTypeIdentifier.bulkString.rawValue)
                writeDecimal(text.utf8.count)
                buffer.writeString(text)
            }
            buffer.writeStaticString("\r\n")
        }
    }

    private mutating func writeDecimal(_ value: Int) {
        buffer.writeString(String(value))
        buffer.writeStaticString("\r\n")
    }
}

/// One argument of a command, sent as a bulk string.
public enum RESPArgument: Sendable, Hashable, ExpressibleByStringLiteral {
    /// UTF-8 text.
    case string(String)
    /// Raw bytes.
    case bytes(ByteBuffer)
    /// An integer in decimal.
    case integer(Int64)

    public init(stringLiteral value: String) { self = .string(value) }

    /// A key's bytes.
    public static func key(_ key: RedisKey) -> RESPArgument { .bytes(key.bytes) }
}
