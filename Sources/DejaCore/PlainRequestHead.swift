/// The head of an HTTP/1.1 `POST` written in the plainest form the grammar allows, read straight from
/// a connection's bytes by the byte-level hit path (DejaServer's `PlainHitHandler`).
///
/// The reader accepts a strict subset of what NIO's HTTP/1 parser (llhttp) accepts, and only heads it
/// reads the same way — the same target, fields, body length and end, a kept-alive connection — so the
/// hit path may answer from these bytes without llhttp and leave every other request to it, bytes
/// untouched. Anything unusual is ``Reading/notPlain``, never repaired:
///
/// - the request line is exactly `POST <target> HTTP/1.1` CRLF, the target `/` then RFC 3986 path and
///   query characters;
/// - each field is a token name, `:` straight after it, spaces, and a value of visible ASCII and inner
///   spaces, ending CRLF: no tabs, no bytes outside ASCII, no control bytes, no folded lines, no bare LF,
///   no space before the colon or at the value's end;
/// - exactly one `Content-Length` of decimal digits without a leading zero, at most 10 digits;
/// - no `Transfer-Encoding`, `Upgrade` or `Proxy-Connection` and no `Connection` but one
///   `Connection: keep-alive` (HTTP/1.1's default, which many clients still send): they change framing
///   or the connection; no `Expect` or `Idempotency-Key` (the router's); at most one `Authorization`
///   and one `Cache-Control`;
/// - at most ``maxHeadBytes`` bytes and ``maxFields`` fields.
///
/// That llhttp reads every accepted head alike is checked by a differential test over mutated requests
/// (`PlainRequestHeadParityTests`), and the reader is fuzzed (`FuzzReader.http`).
public struct PlainRequestHead: Equatable, Sendable {
    /// The request target's bytes (after `POST `).
    public var target: Range<Int>
    /// Where the body starts: just past the empty line that ends the head.
    public var bodyStart: Int
    /// The declared `Content-Length`.
    public var contentLength: Int
    /// The `Authorization` value's bytes, if the field is there.
    public var authorization: Range<Int>?
    /// The `Cache-Control` value's bytes, if the field is there.
    public var cacheControl: Range<Int>?

    /// Where the request ends (its body's end), which may lie past the bytes read so far.
    public var end: Int { bodyStart + contentLength }

    /// What a reading of the bytes found.
    public enum Reading: Equatable, Sendable {
        /// A plain head (its body may not have arrived yet).
        case head(PlainRequestHead)
        /// Plain so far, but the head has not ended within the bytes.
        case incomplete
        /// Not a plain head: the request is llhttp's to read.
        case notPlain
    }

    /// Heads longer than this are not plain.
    public static let maxHeadBytes = 8192
    /// Heads with more fields than this are not plain.
    public static let maxFields = 64

    /// Reads a head from the start of `bytes`.
    public static func read(_ bytes: UnsafeRawBufferPointer) -> Reading {
        var reader = Reader(bytes: bytes)
        return reader.read()
    }

    /// Calls `body` with each field's name and value bytes, in order, of a head ``read(_:)`` accepted in
    /// the same `bytes`.
    public func forEachField(in bytes: UnsafeRawBufferPointer, _ body: (Range<Int>, Range<Int>) -> Void) {
        var i = target.upperBound + Self.versionLine.count
        while bytes[i] != Self.cr {
            let nameStart = i
            while bytes[i] != Self.colon { i += 1 }
            let name = nameStart..<i
            i += 1
            while bytes[i] == Self.space { i += 1 }
            let valueStart = i
            while bytes[i] != Self.cr { i += 1 }
            body(name, valueStart..<i)
            i += 2
        }
    }

    static let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, space: UInt8 = 0x20, colon: UInt8 = 0x3A
    static let method = Array("POST ".utf8)
    static let versionLine = Array(" HTTP/1.1\r\n".utf8)

    /// One pass over a head.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        /// How far the head may reach: the bytes read, or the head limit.
        let limit: Int
        var i = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            self.limit = min(bytes.count, PlainRequestHead.maxHeadBytes)
        }

        /// The outcome when the bytes run out before the head ends.
        var ranOut: Reading { bytes.count >= PlainRequestHead.maxHeadBytes ? .notPlain : .incomplete }

        mutating func read() -> Reading {
            for byte in PlainRequestHead.method {
                guard i < limit else { return ranOut }
                guard bytes[i] == byte else { return .notPlain }
                i += 1
            }
            let targetStart = i
            guard i < limit else { return ranOut }
            guard bytes[i] == UInt8(ascii: "/") else { return .notPlain }
            while i < limit, Self.isTargetByte(bytes[i]) { i += 1 }
            guard i < limit else { return ranOut }
            let target = targetStart..<i
            for byte in PlainRequestHead.versionLine {
                guard i < limit else { return ranOut }
                guard bytes[i] == byte else { return .notPlain }
                i += 1
            }
            var contentLength: Int?
            var authorization: Range<Int>?
            var cacheControl: Range<Int>?
            var keepAlive = false
            var fields = 0
            while true {
                guard i < limit else { return ranOut }
                if bytes[i] == PlainRequestHead.cr {
                    guard i + 1 < limit else { return ranOut }
                    guard bytes[i + 1] == PlainRequestHead.lf, let contentLength else { return .notPlain }
                    return .head(PlainRequestHead(target: target, bodyStart: i + 2, contentLength: contentLength,
                                                  authorization: authorization, cacheControl: cacheControl))
                }
                fields += 1
                guard fields <= PlainRequestHead.maxFields else { return .notPlain }
                // The name: one or more token bytes, then the colon.
                let nameStart = i
                while i < limit, Self.isTokenByte(bytes[i]) { i += 1 }
                guard i < limit else { return ranOut }
                guard bytes[i] == PlainRequestHead.colon, i > nameStart else { return .notPlain }
                let name = nameStart..<i
                i += 1
                while i < limit, bytes[i] == PlainRequestHead.space { i += 1 }
                // The value: visible bytes and inner spaces, then CRLF.
                let valueStart = i
                while i < limit, bytes[i] >= 0x20, bytes[i] <= 0x7E { i += 1 }
                guard i + 1 < limit else { return ranOut }
                guard bytes[i] == PlainRequestHead.cr, bytes[i + 1] == PlainRequestHead.lf else { return .notPlain }
                let value = valueStart..<i
                if !value.isEmpty, bytes[value.upperBound - 1] == PlainRequestHead.space { return .notPlain }
                i += 2
                switch Self.kind(of: name, in: bytes) {
                case .other:
                    break
                case .contentLength:
                    guard contentLength == nil, let length = Self.decimal(value, in: bytes) else { return .notPlain }
                    contentLength = length
                case .authorization:
                    guard authorization == nil else { return .notPlain }
                    authorization = value
                case .cacheControl:
                    guard cacheControl == nil else { return .notPlain }
                    cacheControl = value
                case .connection:
                    guard !keepAlive, Self.bytes(value, in: bytes, equalIgnoringCase: "keep-alive") else { return .notPlain }
                    keepAlive = true
                case .declined:
                    return .notPlain
                }
            }
        }

        enum FieldKind { case other, contentLength, authorization, cacheControl, connection, declined }

        /// What a field name means here, ignoring ASCII case.
        static func kind(of name: Range<Int>, in bytes: UnsafeRawBufferPointer) -> FieldKind {
            func named(_ lowercase: StaticString) -> Bool { Self.bytes(name, in: bytes, equalIgnoringCase: lowercase) }
            switch name.count {
            case 14 where named("content-length"): return .contentLength
            case 13 where named("authorization"): return .authorization
            case 13 where named("cache-control"): return .cacheControl
            case 10 where named("connection"): return .connection
            case 17 where named("transfer-encoding"), 7 where named("upgrade"),
                 16 where named("proxy-connection"), 6 where named("expect"), 15 where named("idempotency-key"):
                return .declined
            default: return .other
            }
        }

        /// Whether the bytes in `range` are `lowercase` (lowercase letters, digits and `-`), ignoring ASCII case.
        static func bytes(_ range: Range<Int>, in bytes: UnsafeRawBufferPointer, equalIgnoringCase lowercase: StaticString) -> Bool {
            guard range.count == lowercase.utf8CodeUnitCount else { return false }
            let other = lowercase.utf8Start
            for k in 0..<range.count where bytes[range.lowerBound + k] | 0x20 != other[k] { return false }
            return true
        }

        /// A `Content-Length` value: 1 to 10 decimal digits, no leading zero but for `0` itself.
        static func decimal(_ value: Range<Int>, in bytes: UnsafeRawBufferPointer) -> Int? {
            guard (1...10).contains(value.count), value.count == 1 || bytes[value.lowerBound] != UInt8(ascii: "0") else { return nil }
            var number = 0
            for k in value {
                let digit = bytes[k] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                number = number * 10 + Int(digit)
            }
            return number
        }

        /// RFC 9110 `tchar`.
        static func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                 UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                return true
            default:
                return false
            }
        }

        /// RFC 3986 path and query characters: unreserved, sub-delims, `:`, `@`, `/`, `?` and `%`.
        static func isTargetByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
                 UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
                 UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "%"):
                return true
            default:
                return false
            }
        }
    }
}
