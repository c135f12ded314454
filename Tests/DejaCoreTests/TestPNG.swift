import CompressNIO
import NIOCore

/// A small PNG encoder for tests and benchmarks: any colour type and bit depth, every row filter,
/// Adam7 interlacing, chosen zlib level, IDAT splitting and extra chunks.
struct TestPNG {
    enum Filter {
        case fixed(UInt8)
        /// Filter type `row % 5`: every filter appears.
        case cycle
    }

    var width: Int
    var height: Int
    var bitDepth: UInt8 = 8
    var colourType: UInt8 = 2
    /// Packed unfiltered rows, `rowBytes` each.
    var rows: [[UInt8]]
    var palette: [UInt8]?
    var transparency: [UInt8]?

    var channels: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colourType)]! }
    var bitsPerPixel: Int { channels * Int(bitDepth) }
    func rowBytes(_ pixels: Int) -> Int { (pixels * bitsPerPixel + 7) / 8 }

    /// An image whose samples come from `sample(x, y, channel)` (masked to the bit depth).
    init(width: Int, height: Int, bitDepth: UInt8 = 8, colourType: UInt8 = 2, sample: (Int, Int, Int) -> Int) {
        self.width = width
        self.height = height
        self.bitDepth = bitDepth
        self.colourType = colourType
        rows = []
        for y in 0..<height {
            var row = [UInt8](repeating: 0, count: (width * [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(colourType)]! * Int(bitDepth) + 7) / 8)
            for x in 0..<width {
                for c in 0..<channels {
                    Self.put(&row, index: x * channels + c, bits: Int(bitDepth), value: sample(x, y, c))
                }
            }
            rows.append(row)
        }
    }

    /// Sets sample `index` of a packed row.
    static func put(_ row: inout [UInt8], index: Int, bits: Int, value: Int) {
        if bits == 16 {
            row[index * 2] = UInt8(truncatingIfNeeded: value >> 8)
            row[index * 2 + 1] = UInt8(truncatingIfNeeded: value)
        } else if bits == 8 {
            row[index] = UInt8(truncatingIfNeeded: value)
        } else {
            let bit = index * bits
            let shift = 8 - bits - bit % 8
            let mask = UInt8((1 << bits) - 1)
            row[bit / 8] = row[bit / 8] & ~(mask << shift) | (UInt8(truncatingIfNeeded: value) & mask) << shift
        }
    }

    /// Pixel `x` of a packed row as its bytes (whole bytes) or its bits in the low bits of one byte.
    private func pixel(_ row: [UInt8], _ x: Int) -> [UInt8] {
        if bitsPerPixel >= 8 {
            let size = bitsPerPixel / 8
            return Array(row[x * size..<(x + 1) * size])
        }
        let bit = x * bitsPerPixel
        return [row[bit / 8] >> UInt8(8 - bitsPerPixel - bit % 8) & UInt8((1 << bitsPerPixel) - 1)]
    }

    private func setPixel(_ row: inout [UInt8], _ x: Int, _ value: [UInt8]) {
        if bitsPerPixel >= 8 {
            let size = bitsPerPixel / 8
            row.replaceSubrange(x * size..<(x + 1) * size, with: value)
        } else {
            Self.put(&row, index: x, bits: bitsPerPixel, value: Int(value[0]))
        }
    }

    /// The PNG file.
    func encode(
        level: ZlibConfiguration.CompressionLevel = .compressionLevel6,
        filter: Filter = .fixed(0),
        interlaced: Bool = false,
        idatSize: Int? = nil,
        before: [(String, [UInt8])] = [],
        after: [(String, [UInt8])] = []
    ) -> [UInt8] {
        var raw: [UInt8] = []
        var rowNumber = 0
        func addPass(_ passRows: [[UInt8]], pixels: Int) {
            let length = rowBytes(pixels)
            let stride = max(1, bitsPerPixel / 8)
            var prior = [UInt8](repeating: 0, count: length)
            for row in passRows {
                let type: UInt8
                switch filter {
                case .fixed(let value): type = value
                case .cycle: type = UInt8(rowNumber % 5)
                }
                rowNumber += 1
                raw.append(type)
                for i in 0..<length {
                    let a = i >= stride ? Int(row[i - stride]) : 0
                    let b = Int(prior[i])
                    let c = i >= stride ? Int(prior[i - stride]) : 0
                    let predictor: Int
                    switch type {
                    case 1: predictor = a
                    case 2: predictor = b
                    case 3: predictor = (a + b) / 2
                    case 4:
                        let p = a + b - c
                        let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                    default: predictor = 0
                    }
                    raw.append(row[i] &- UInt8(truncatingIfNeeded: predictor))
                }
                prior = row
            }
        }
        if interlaced {
            for (sx, sy, dx, dy) in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)] {
                let pw = width > sx ? (width - sx + dx - 1) / dx : 0
                let ph = height > sy ? (height - sy + dy - 1) / dy : 0
                guard pw > 0, ph > 0 else { continue }
                var passRows: [[UInt8]] = []
                for r in 0..<ph {
                    var row = [UInt8](repeating: 0, count: rowBytes(pw))
                    for i in 0..<pw { setPixel(&row, i, pixel(rows[sy + r * dy], sx + i * dx)) }
                    passRows.append(row)
                }
                addPass(passRows, pixels: pw)
            }
        } else {
            addPass(rows, pixels: width)
        }
        var input = ByteBuffer(bytes: raw)
        let compressed = try! input.compress(with: .zlib, configuration: ZlibConfiguration(compressionLevel: level))
        let zlib = Array(compressed.readableBytesView)

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func be32(_ v: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
        let header = be32(width) + be32(height) + [bitDepth, colourType, 0, 0, interlaced ? 1 : 0]
        Self.chunk("IHDR", header, into: &out)
        for (type, data) in before { Self.chunk(type, data, into: &out) }
        if let palette { Self.chunk("PLTE", palette, into: &out) }
        if let transparency { Self.chunk("tRNS", transparency, into: &out) }
        let size = idatSize ?? max(1, zlib.count)
        var start = 0
        repeat {
            let end = min(zlib.count, start + size)
            Self.chunk("IDAT", Array(zlib[start..<end]), into: &out)
            start = end
        } while start < zlib.count
        for (type, data) in after { Self.chunk(type, data, into: &out) }
        Self.chunk("IEND", [], into: &out)
        return out
    }

    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: data.count >> $0) }
        out += body
        let crc = crc32(body)
        out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: crc >> UInt32($0)) }
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// A TIFF structure (as EXIF carries it) with IFD0 holding the given SHORT/ASCII entries.
func tiff(bigEndian: Bool, orientation: UInt16?, make: String? = "DejaCam", extraTags: Int = 0) -> [UInt8] {
    func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
    func u32(_ v: UInt32) -> [UInt8] { bigEndian ? u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) : u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) }
    var entries: [(UInt16, UInt16, UInt32, [UInt8])] = []  // tag, type, count, value/offset field or data
    let makeData = make.map { Array($0.utf8) + [0] }
    if makeData != nil { entries.append((0x010F, 2, UInt32(makeData!.count), [])) }
    if let orientation { entries.append((0x0112, 3, 1, u16(orientation) + [0, 0])) }
    for index in 0..<extraTags { entries.append((0x9000 + UInt16(index), 3, 1, u16(UInt16(index)) + [0, 0])) }
    entries.sort { $0.0 < $1.0 }
    let ifdSize = 2 + entries.count * 12 + 4
    var out = (bigEndian ? Array("MM".utf8) : Array("II".utf8)) + u16(42) + u32(8)
    out += u16(UInt16(entries.count))
    let dataOffset = UInt32(8 + ifdSize)
    for (tag, type, count, value) in entries {
        out += u16(tag) + u16(type) + u32(count)
        out += tag == 0x010F ? u32(dataOffset) : value
    }
    out += u32(0)
    if let makeData { out += makeData }
    return out
}
