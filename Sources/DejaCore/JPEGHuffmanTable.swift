/// A Huffman table from a DHT segment, checked as libjpeg checks it, with an 8-bit lookahead.
struct JPEGHuffmanTable {
    /// For each 8-bit prefix: `length << 8 | symbol` of the code it starts with, or 0 if the code is longer.
    private var fast = [UInt16](repeating: 0, count: 256)
    /// For each length 1…16: the largest code of that length, or -1.
    private var maxCode = [Int32](repeating: -1, count: 18)
    /// For each length: what to add to a code of that length to index ``symbols``.
    private var offset = [Int32](repeating: 0, count: 17)
    private(set) var symbols: [UInt8]

    /// Builds the canonical codes from 16 counts and the symbols. Fails where libjpeg refuses the table:
    /// more than 256 symbols, or codes that do not fit their length (no code may be all ones).
    init(counts: UnsafeBufferPointer<UInt8>, symbols: UnsafeBufferPointer<UInt8>) throws(JPEGCoefficients.Unsupported) {
        guard counts.count == 16, symbols.count == counts.reduce(0, { $0 + Int($1) }), symbols.count <= 256 else {
            throw JPEGCoefficients.Unsupported("a bad Huffman table")
        }
        self.symbols = Array(symbols)
        var code: Int32 = 0
        var index: Int32 = 0
        for length in 1...16 {
            let count = Int32(counts[length - 1])
            // libjpeg's check, made before any code is filled in: the codes of this length must fit it, and
            // none may be all ones.
            guard code + count < (Int32(1) << length) else { throw JPEGCoefficients.Unsupported("a bad Huffman table") }
            if count > 0 {
                offset[length] = index - code
                for next in code..<code + count where length <= 8 {
                    let symbol = UInt16(symbols[Int(index + next - code)])
                    let shift = 8 - length
                    for fill in 0..<(1 << shift) { fast[Int(next) << shift | fill] = UInt16(length) << 8 | symbol }
                }
                code += count
                index += count
                maxCode[length] = code - 1
            }
            code <<= 1
        }
    }

    /// Whether every symbol is a DC magnitude category (0…15), as libjpeg requires of a DC table.
    var isValidForDC: Bool { symbols.allSatisfy { $0 <= 15 } }

    /// Decodes one symbol.
    @inline(__always)
    func decode(_ reader: inout JPEGBitReader) throws(JPEGCoefficients.Unsupported) -> UInt8 {
        let peek = reader.peek16()
        let entry = fast[Int(peek >> 8)]
        if entry != 0 {
            try reader.skip(Int(entry >> 8))
            return UInt8(truncatingIfNeeded: entry)
        }
        for length in 9...16 {
            let code = Int32(peek >> (16 - length))
            if code <= maxCode[length] {
                try reader.skip(length)
                return symbols[Int(code + offset[length])]
            }
        }
        throw JPEGCoefficients.Unsupported("a Huffman code not in its table")
    }
}

/// Reads the bits of one scan's entropy-coded data: stuffed `FF 00` bytes are `FF`, and the reader stops at
/// a marker (RSTn inside the data, or the end of the data).
struct JPEGBitReader {
    private let data: UnsafeBufferPointer<UInt8>
    private var position = 0
    /// Bits not yet consumed: the low ``count`` bits of ``buffer`` (the bits above are stale).
    private var buffer: UInt64 = 0
    private var count = 0

    init(_ data: UnsafeBufferPointer<UInt8>) {
        self.data = data
    }

    /// Loads whole bytes until 57 or more bits are buffered or a marker (or the end) is reached.
    @inline(__always)
    private mutating func fill() {
        while count <= 56, position < data.count {
            var byte = data[position]
            if byte == 0xFF {
                // libjpeg skips fill bytes: FF FF … 00 is one data byte FF; FF FF … Dn is a marker.
                var next = position + 1
                while next < data.count, data[next] == 0xFF { next += 1 }
                guard next < data.count, data[next] == 0x00 else { return }
                position = next + 1
                byte = 0xFF
            } else {
                position += 1
            }
            buffer = buffer << 8 | UInt64(byte)
            count += 8
        }
    }

    /// The next 16 bits, with zeros past the end of the data (never consumed: ``skip(_:)`` refuses them).
    @inline(__always)
    mutating func peek16() -> UInt32 {
        if count < 16 { fill() }
        if count >= 16 { return UInt32(truncatingIfNeeded: buffer >> UInt64(count - 16)) & 0xFFFF }
        return UInt32(truncatingIfNeeded: buffer << UInt64(16 - count)) & 0xFFFF
    }

    @inline(__always)
    mutating func skip(_ bits: Int) throws(JPEGCoefficients.Unsupported) {
        guard bits <= count else { throw JPEGCoefficients.Unsupported("scan data ends inside a block") }
        count -= bits
    }

    /// Reads one bit.
    @inline(__always)
    mutating func bit() throws(JPEGCoefficients.Unsupported) -> Bool {
        if count == 0 { fill() }
        guard count > 0 else { throw JPEGCoefficients.Unsupported("scan data ends inside a block") }
        count -= 1
        return buffer >> UInt64(count) & 1 != 0
    }

    /// Reads `bits` (0…16) bits as an unsigned number.
    @inline(__always)
    mutating func bits(_ bits: Int) throws(JPEGCoefficients.Unsupported) -> Int32 {
        if bits == 0 { return 0 }
        if count < bits { fill() }
        guard bits <= count else { throw JPEGCoefficients.Unsupported("scan data ends inside a block") }
        count -= bits
        return Int32(truncatingIfNeeded: buffer >> UInt64(count) & (UInt64(1) << UInt64(bits) &- 1))
    }

    /// Reads a magnitude category's `size` bits and extends them to a signed value (T.81 F.2.2.1).
    @inline(__always)
    mutating func signed(_ size: Int) throws(JPEGCoefficients.Unsupported) -> Int32 {
        let value = try bits(size)
        return size > 0 && value < Int32(1) << (size - 1) ? value - (Int32(1) << size) + 1 : value
    }

    /// At a restart interval's end or the scan's end: the unread bits must be the padding of the last byte
    /// (no whole byte left over), and the data must continue with RST`expected` or, for `nil`, end.
    mutating func finishInterval(expecting expected: UInt8?) throws(JPEGCoefficients.Unsupported) {
        fill()
        guard count < 8 else { throw JPEGCoefficients.Unsupported("extra data after a scan's last block") }
        buffer = 0
        count = 0
        guard let expected else {
            guard position == data.count else { throw JPEGCoefficients.Unsupported("extra data after a scan's last block") }
            return
        }
        var next = position
        while next < data.count, data[next] == 0xFF { next += 1 }
        guard next > position, next < data.count, data[next] == 0xD0 + expected else {
            throw JPEGCoefficients.Unsupported("a missing or out-of-order restart marker")
        }
        position = next + 1
    }
}
