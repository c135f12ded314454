import NIOCore
import Testing

@testable import DejaRedis

@Suite("RESP encoder")
struct RESPCommandEncoderTests {
    func bytes(_ command: some RedisCommand) -> String {
        var encoder = RESPCommandEncoder()
        command.encode(into: &encoder)
        return String(buffer: encoder.buffer)
    }

    @Test func commandsEncodeAsArraysOfBulkStrings() {
        #expect(bytes(GET("key")) == "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
        #expect(bytes(SET("k", value: ByteBuffer(string: "v\r\n"), condition: .ifNotExists, milliseconds: 1500))
            == "*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\nNX\r\n$2\r\nPX\r\n$4\r\n1500\r\n")
        #expect(bytes(SET("k", value: ByteBuffer())) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
        #expect(bytes(DEL(["a", "b"])) == "*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n")
        #expect(bytes(HELLO(protocolVersion: 3, username: "u", password: "p", clientName: "deja"))
            == "*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n$7\r\nSETNAME\r\n$4\r\ndeja\r\n")
        #expect(bytes(EVALSHA(sha1: "abc", keys: ["k"], arguments: ["o"]))
            == "*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\no\r\n")
        #expect(bytes(PING()) == "*1\r\n$4\r\nPING\r\n")
        #expect(bytes(RawCommand(["CLIENT", "KILL", "ID", .integer(12)])) == "*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n$2\r\n12\r\n")
    }

    @Test func multiByteTextIsCountedInBytes() {
        #expect(bytes(GET("é")) == "*2\r\n$3\r\nGET\r\n$2\r\né\r\n")
    }

    @Test func oneBufferHoldsAPipelineAndIsReusable() {
        var encoder = RESPCommandEncoder()
        GET("a").encode(into: &encoder)
        PING().encode(into: &encoder)
        #expect(String(buffer: encoder.buffer) == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n")
        let capacity = encoder.buffer.capacity
        encoder.reset()
        #expect(encoder.buffer.readableBytes == 0)
        #expect(encoder.buffer.capacity == capacity)
    }

    @Test func encodedCommandsDecodeAsRESP() throws {
        var encoder = RESPCommandEncoder()
        SET("key", value: ByteBuffer(bytes: [0, 13, 10, 255]), milliseconds: 5).encode(into: &encoder)
        var buffer = encoder.buffer
        let token = try #require(try RESPToken(consuming: &buffer))
        let words = try token.array().map { try $0.bytes()! }
        #expect(words[2] == ByteBuffer(bytes: [0, 13, 10, 255]))
        #expect(words.count == 5)
    }
}
