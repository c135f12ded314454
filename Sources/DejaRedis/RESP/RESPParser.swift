import NIOCore

/// Validates RESP bytes in place without consuming them, and reads values out of validated bytes.
struct RESPParser {
    let buffer: ByteBuffer
    let limits: RESPLimits

    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A

    /// The index just past the value starting at `index`, or `nil` when the buffer ends first.
    func validate(at index: Int, depth: Int) throws(RedisError) -> Int? {
        guard depth <= limits.maxDepth else {
            throw RedisError(code: .tooDeep, message: "reply nests deeper than \(limits.maxDepth) levels")
        }
        guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }
        guard let type = RESPTypeIdentifier(rawValue: byte) else {
            throw .protocolError("unknown RESP type byte 0x\(String(byte, radix: 16))")
        }
        let start = index + 1
        switch type {
        case .simpleString, .simpleError:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            return lineEnd + 2
        case .integer:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            _ = try integer(from: start, to: lineEnd)
            return lineEnd + 2
        case .null:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            guard lineEnd == start else { throw .protocolError("null carries data") }
            return lineEnd + 2
        case .boolean:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            let flag = buffer.getInteger(at: start, as: UInt8.self)
            guard lineEnd == start + 1, flag == UInt8(ascii: "t") || flag == UInt8(ascii: "f") else {
                throw .protocolError("boolean is neither t nor f")
            }
            return lineEnd + 2
        case .double:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            guard Self.parseDouble(buffer.getSlice(at: start, length: lineEnd - start)!) != nil else {
                throw .protocolError("double is not a number")
            }
            return lineEnd + 2
        case .bigNumber:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            var bytes = buffer.getBytes(at: start, length: lineEnd - start)![...]
            if bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw .protocolError("big number has a non-digit")
            }
            return lineEnd + 2
        case .bulkString, .bulkError, .verbatimString:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            let length = try integer(from: start, to: lineEnd)
            if length == -1, type == .bulkString { return lineEnd + 2 }  // RESP2 null
            guard length >= 0 else { throw .protocolError("negative length") }
            guard length <= limits.maxBulkLength else {
                throw RedisError(code: .tooLarge, message: "bulk length exceeds \(limits.maxBulkLength) bytes")
            }
            let dataStart = lineEnd + 2
            let dataEnd = dataStart + Int(length)
            guard buffer.writerIndex >= dataEnd + 2 else { return nil }
            guard buffer.getInteger(at: dataEnd, as: UInt8.self) == Self.cr,
                  buffer.getInteger(at: dataEnd + 1, as: UInt8.self) == Self.lf
            else { throw .protocolError("bulk data is not followed by CRLF") }
            if type == .verbatimString {
                guard length >= 4, buffer.getInteger(at: dataStart + 3, as: UInt8.self) == UInt8(ascii: ":") else {
                    throw .protocolError("verbatim string lacks its format prefix")
                }
            }
            return dataEnd + 2
        case .array, .set, .push, .map, .attribute:
            guard let lineEnd = try lineEnd(from: start) else { return nil }
            let declared = try integer(from: start, to: lineEnd)
            if declared == -1, type == .array { return lineEnd + 2 }  // RESP2 null array
            guard declared >= 0 else { throw .protocolError("negative count") }
            let pairs = type == .map || type == .attribute
            guard declared <= limits.maxAggregateCount / (pairs ? 2 : 1) else {
                throw RedisError(code: .tooLarge, message: "aggregate count exceeds \(limits.maxAggregateCount)")
            }
            let count = Int(declared) * (pairs ? 2 : 1)
            var position = lineEnd + 2
            var seen = 0
            while seen < count {
                let isAttribute = buffer.getInteger(at: position, as: UInt8.self) == RESPTypeIdentifier.attribute.rawValue
                guard let next = try validate(at: position, depth: depth + 1) else { return nil }
                position = next
                if !isAttribute { seen += 1 }
            }
            return position
        }
    }

    /// Index of the CR that ends the line starting at `start`; `nil` when it has not arrived yet.
    private func lineEnd(from start: Int) throws(RedisError) -> Int? {
        let available = buffer.writerIndex - start
        guard available > 0 else { return nil }
        let window = min(available, limits.maxLineLength + 2)
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            let offset = start - buffer.readerIndex
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + window)])
            guard let cr = slice.firstIndex(of: Self.cr) else { return nil }
            return start + cr
        }
        guard let cr = found else {
            if available > limits.maxLineLength + 1 {
                throw RedisError(code: .tooLarge, message: "line exceeds \(limits.maxLineLength) bytes")
            }
            return nil
        }
        guard let lf = buffer.getInteger(at: cr + 1, as: UInt8.self) else { return nil }
        guard lf == Self.lf else { throw .protocolError("CR not followed by LF") }
        return cr
    }

    /// A strict decimal integer: optional `-`, 1 to 19 digits, no overflow.
    private func integer(from start: Int, to end: Int) throws(RedisError) -> Int64 {
        guard let value = Self.parseInteger(buffer.getSlice(at: start, length: end - start)!) else {
            throw .protocolError("malformed integer")
        }
        return value
    }

    static func parseInteger(_ bytes: ByteBuffer) -> Int64? {
        var view = bytes.readableBytesView[...]
        var negative = false
        if view.first == UInt8(ascii: "-") {
            negative = true
            view = view.dropFirst()
        }
        guard !view.isEmpty, view.count <= 19 else { return nil }
        var value: Int64 = 0
        for byte in view {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(byte - 0x30))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    static func parseDouble(_ bytes: ByteBuffer) -> Double? {
        let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: break
        }
        guard !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || "+-.eE".utf8.contains($0) }) else {
            return nil
        }
        return Double(text)
    }

    // MARK: Reading validated bytes

    /// Takes the next element (skipping attributes) off validated bytes.
    static func nextElement(_ buffer: inout ByteBuffer) -> RESPToken? {
        while buffer.readableBytes > 0 {
            let parser = RESPParser(buffer: buffer, limits: .unchecked)
            guard let end = try? parser.validate(at: buffer.readerIndex, depth: 1) else { return nil }
            let token = RESPToken(validated: buffer.readSlice(length: end - buffer.readerIndex)!)
            if token.type != .attribute { return token }
        }
        return nil
    }

    /// The value of one validated token.
    static func value(of base: ByteBuffer) -> RESPToken.Value {
        var buffer = base
        let type = RESPTypeIdentifier(rawValue: buffer.readInteger(as: UInt8.self)!)!
        func line() -> ByteBuffer {
            let length = buffer.readableBytesView.firstIndex(of: cr)! - buffer.readerIndex
            let slice = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 2)
            return slice
        }
        switch type {
        case .simpleString: return .simpleString(line())
        case .simpleError: return .simpleError(line())
        case .integer: return .integer(parseInteger(line())!)
        case .null: return .null
        case .boolean: return .boolean(lineFlag(base))
        case .double: return .double(parseDouble(line())!)
        case .bigNumber: return .bigNumber(line())
        case .bulkString, .bulkError, .verbatimString:
            let length = Int(parseInteger(line())!)
            if length < 0 { return .null }
            let data = buffer.readSlice(length: length)!
            switch type {
            case .bulkString: return .bulkString(data)
            case .bulkError: return .bulkError(data)
            default:
                var text = data
                let format = text.readString(length: 3)!
                text.moveReaderIndex(forwardBy: 1)
                return .verbatimString(format: format, text: text)
            }
        case .array, .set, .push, .map, .attribute:
            let count = Int(parseInteger(line())!)
            if count < 0 { return .null }
            switch type {
            case .array: return .array(.init(count: count, elements: buffer))
            case .set: return .set(.init(count: count, elements: buffer))
            case .push: return .push(.init(count: count, elements: buffer))
            case .map: return .map(.init(count: count, elements: buffer))
            default: return .attribute(.init(count: count, elements: buffer))
            }
        }
    }

    private static func lineFlag(_ base: ByteBuffer) -> Bool {
        base.getInteger(at: base.readerIndex + 1, as: UInt8.self) == UInt8(ascii: "t")
    }
}

extension RESPLimits {
    /// For re-reading bytes that were validated under real limits.
    static let unchecked = RESPLimits(
        maxBulkLength: .max / 2, maxDepth: .max, maxAggregateCount: .max, maxLineLength: .max / 4
    )
}
