import NIOCore
import Testing

@testable import DejaRedis

@Suite("RESP decoder")
struct RESPTokenTests {
    /// Decodes exactly one token from `text`, requiring every byte to be used.
    func decode(_ text: String, limits: RESPLimits = .default) throws -> RESPToken {
        var buffer = ByteBuffer(string: text)
        let token = try #require(try RESPToken(consuming: &buffer, limits: limits))
        #expect(buffer.readableBytes == 0)
        return token
    }

    func decodeError(_ text: String, limits: RESPLimits = .default) -> RedisError? {
        var buffer = ByteBuffer(string: text)
        do {
            _ = try RESPToken(consuming: &buffer, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func simpleStringErrorInteger() throws {
        #expect(try decode("+OK\r\n").value == .simpleString(ByteBuffer(string: "OK")))
        #expect(try decode("-ERR bad thing\r\n").value == .simpleError(ByteBuffer(string: "ERR bad thing")))
        #expect(try decode(":1234\r\n").value == .integer(1234))
        #expect(try decode(":-42\r\n").value == .integer(-42))
        #expect(try decode(":9223372036854775807\r\n").value == .integer(.max))
    }

    @Test func bulkStringAndNulls() throws {
        #expect(try decode("$5\r\nhello\r\n").value == .bulkString(ByteBuffer(string: "hello")))
        #expect(try decode("$0\r\n\r\n").value == .bulkString(ByteBuffer()))
        #expect(try decode("$4\r\na\r\nb\r\n").value == .bulkString(ByteBuffer(string: "a\r\nb")))
        #expect(try decode("$-1\r\n").value == .null)
        #expect(try decode("*-1\r\n").value == .null)
        #expect(try decode("_\r\n").value == .null)
    }

    @Test func booleanDoubleBigNumber() throws {
        #expect(try decode("#t\r\n").value == .boolean(true))
        #expect(try decode("#f\r\n").value == .boolean(false))
        #expect(try decode(",1.5\r\n").value == .double(1.5))
        #expect(try decode(",-2.5e3\r\n").value == .double(-2500))
        #expect(try decode(",10\r\n").value == .double(10))
        #expect(try decode(",inf\r\n").value == .double(.infinity))
        #expect(try decode(",-inf\r\n").value == .double(-.infinity))
        guard case .double(let nan) = try decode(",nan\r\n").value else {
            Issue.record("nan is not a double")
            return
        }
        #expect(nan.isNaN)
        #expect(try decode("(3492890328409238509324850943850943825024385\r\n").value
            == .bigNumber(ByteBuffer(string: "3492890328409238509324850943850943825024385")))
        #expect(try decode("(-12\r\n").value == .bigNumber(ByteBuffer(string: "-12")))
    }

    @Test func bulkErrorAndVerbatim() throws {
        #expect(try decode("!21\r\nSYNTAX invalid syntax\r\n").value == .bulkError(ByteBuffer(string: "SYNTAX invalid syntax")))
        #expect(try decode("=15\r\ntxt:Some string\r\n").value == .verbatimString(format: "txt", text: ByteBuffer(string: "Some string")))
        #expect(try decode("!21\r\nSYNTAX invalid syntax\r\n").errorText == "SYNTAX invalid syntax")
    }

    @Test func aggregates() throws {
        let array = try decode("*3\r\n:1\r\n$3\r\nfoo\r\n*1\r\n#t\r\n")
        let elements = try array.array()
        #expect(elements.count == 3)
        #expect(elements[0].value == .integer(1))
        #expect(try elements[1].string() == "foo")
        #expect(try elements[2].array().map(\.value) == [.boolean(true)])

        guard case .set(let set) = try decode("~2\r\n+a\r\n+b\r\n").value else {
            Issue.record("not a set")
            return
        }
        #expect(set.count == 2)
        #expect(try set.map { try $0.string() } == ["a", "b"])

        guard case .map(let map) = try decode("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n").value else {
            Issue.record("not a map")
            return
        }
        #expect(map.count == 2)
        #expect(try map.map { try $0.key.string() } == ["first", "second"])
        #expect(map.map(\.value.value) == [.integer(1), .integer(2)])

        guard case .push(let push) = try decode(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n").value else {
            Issue.record("not a push")
            return
        }
        #expect(try push.map { try $0.string() } == ["message", "ch", "hi"])

        #expect(try decode("*0\r\n").array().isEmpty)
    }

    @Test func attributesAreNotElements() throws {
        let attribute = try decode("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n")
        guard case .attribute(let map) = attribute.value else {
            Issue.record("not an attribute")
            return
        }
        #expect(map.count == 1)
        // Inside an array an attribute annotates the next element and is not counted.
        let array = try decode("*2\r\n|1\r\n+ttl\r\n:3\r\n:1\r\n:2\r\n")
        #expect(try array.array().map(\.value) == [.integer(1), .integer(2)])
    }

    @Test("every prefix of a valid reply asks for more bytes, byte by byte")
    func splitReads() throws {
        let wire = "*4\r\n$5\r\nhello\r\n%1\r\n+k\r\n,inf\r\n=8\r\ntxt:abcd\r\n>2\r\n+a\r\n(12\r\n"
        let bytes = Array(wire.utf8)
        var buffer = ByteBuffer()
        for (index, byte) in bytes.enumerated() {
            buffer.writeInteger(byte)
            let token = try RESPToken(consuming: &buffer)
            if index < bytes.count - 1 {
                #expect(token == nil, "complete after \(index + 1) bytes")
                #expect(buffer.readableBytes == index + 1)
            } else {
                let token = try #require(token)
                #expect(try token.array().count == 4)
                #expect(buffer.readableBytes == 0)
            }
        }
    }

    @Test func twoTokensInOneBuffer() throws {
        var buffer = ByteBuffer(string: "+OK\r\n:7\r\n$2\r\nab")
        #expect(try RESPToken(consuming: &buffer)?.value == .simpleString(ByteBuffer(string: "OK")))
        #expect(try RESPToken(consuming: &buffer)?.value == .integer(7))
        #expect(try RESPToken(consuming: &buffer) == nil)
        #expect(buffer.readableBytes == 6)
    }

    @Test("malformed input throws protocol errors", arguments: [
        "?what\r\n",  // unknown type byte
        ":12a\r\n",  // not a number
        ":\r\n",  // empty number
        ":99999999999999999999\r\n",  // overflow
        "$-2\r\n",  // negative length
        "$abc\r\n",  // bad length
        "$3\r\nabcd\r\n",  // data longer than declared
        "*-5\r\n",  // negative count
        "#x\r\n",  // bad boolean
        ",1.2.x\r\n",  // bad double
        ",0x1p3\r\n",  // hex float
        "(12a\r\n",  // bad big number
        "_x\r\n",  // null with data
        "=3\r\ntxt\r\n",  // verbatim without format
        "+OK\rX",  // CR without LF
    ])
    func malformed(_ wire: String) {
        #expect(decodeError(wire)?.code == .protocolError)
    }

    @Test func hugeDeclaredLengthsAreRefusedBeforeAnyDataArrives() {
        #expect(decodeError("$536870913\r\n")?.code == .tooLarge)  // 512 MiB + 1
        #expect(decodeError("$1025\r\n", limits: RESPLimits(maxBulkLength: 1024))?.code == .tooLarge)
        #expect(decodeError("!9223372036854775807\r\n")?.code == .tooLarge)
        #expect(decodeError("*99999999999\r\n")?.code == .tooLarge)
        #expect(decodeError("%9000000\r\n")?.code == .tooLarge)
        #expect(decodeError("+" + String(repeating: "a", count: 70_000))?.code == .tooLarge)
    }

    @Test func nestingDeeperThanTheLimitIsRefused() throws {
        let deep = String(repeating: "*1\r\n", count: 65) + ":1\r\n"
        #expect(decodeError(deep)?.code == .tooDeep)
        let allowed = String(repeating: "*1\r\n", count: 63) + ":1\r\n"
        #expect(try decode(allowed).type == .array)
        #expect(decodeError("*1\r\n*1\r\n:1\r\n", limits: RESPLimits(maxDepth: 2))?.code == .tooDeep)
        // Refused even before the innermost bytes arrive.
        #expect(decodeError(String(repeating: ">1\r\n", count: 100))?.code == .tooDeep)
    }

    @Test func descriptionNeverShowsContent() throws {
        let token = try decode("$6\r\nsecret\r\n")
        #expect(!token.description.contains("secret"))
        let error = RedisError.server("WRONGTYPE key secret-key holds the wrong kind")
        #expect(!error.description.contains("secret"))
        #expect(error.description.contains("WRONGTYPE"))
    }
}
