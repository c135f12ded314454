/// The chunk structure of a PNG file, validated: signature, CRCs, IHDR, chunk order and sizes.
///
/// Holds only offsets into the caller's buffer. Reading never allocates from sizes found in the file
/// beyond small per-chunk bookkeeping, and any structural fault is a ``Malformed`` reason, never a trap.
struct PNGFile {
    struct Malformed: Error, Equatable {
        let reason: String
    }

    /// A chunk: its four-letter type and where its data lies.
    struct Chunk {
        let type: UInt32
        let data: Range<Int>
        /// Whether the chunk comes after the IDAT run (libpng reads it at the end, OpenCV's pre-scan not).
        var afterImageData = false

        var name: String { PNGFile.name(of: type) }
        /// Ancillary chunks have a lowercase first letter.
        var isAncillary: Bool { type & 0x2000_0000 != 0 }
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Ancillary chunks that no decoder uses to produce pixels: text, time, physical size, suggested
    /// palettes and histograms, offsets, scale, signatures, Apple's `iDOT` decoding hint and ImageMagick's
    /// `vpAg` canvas — ignored only up to ``maxIgnoredChunkBytes`` and, for text, unless the keyword
    /// starts `Raw profile` (``isRawProfile(_:_:)``). Every other ancillary chunk, known or not, counts.
    static let ignoredAncillary: Set<UInt32> = {
        let names: [StaticString] = ["tEXt", "zTXt", "iTXt", "tIME", "pHYs", "sPLT", "hIST", "oFFs", "sCAL", "dSIG", "iDOT", "vpAg"]
        return Set(names.map { PNGFile.code($0) })
    }()

    /// An ancillary chunk of the ignored kinds counts anyway when its data passes this size (1 MiB).
    /// OpenCV refuses a file with a chunk before IDAT of more than 8,000,000 bytes with its header
    /// (libpng's `PNG_USER_CHUNK_MALLOC_MAX`; only tEXt, PLTE, tRNS, IDAT, fdAT and IEND are exempt), and its
    /// animated-PNG reader applies the same cap after IDAT; the margin keeps the rule independent of where
    /// the chunk stands and of the exemptions.
    static let maxIgnoredChunkBytes = 1 << 20

    static let IHDR = code("IHDR"), PLTE = code("PLTE"), IDAT = code("IDAT"), IEND = code("IEND")
    static let tRNS = code("tRNS"), eXIf = code("eXIf")
    static let tEXt = code("tEXt"), zTXt = code("zTXt"), iTXt = code("iTXt")
    private static let rawProfilePrefix = Array("raw profile".utf8)

    var width = 0
    var height = 0
    var bitDepth: UInt8 = 0
    var colourType: UInt8 = 0
    var interlaced = false
    var palette: Range<Int>?
    var transparency: Range<Int>?
    /// Ancillary chunks that count, in file order (`eXIf` among them).
    var counted: [Chunk] = []
    /// Ancillary chunks left out of the digest, in file order.
    var ignored: [Chunk] = []
    /// IDAT data, in order; they are consecutive in the file.
    var imageData: [Range<Int>] = []
    /// Bytes after IEND.
    var trailingBytes = 0

    /// Samples per pixel for the colour type.
    var channels: Int {
        switch colourType {
        case 2: 3
        case 4: 2
        case 6: 4
        default: 1
        }
    }

    var bitsPerPixel: Int { channels * Int(bitDepth) }

    /// Bytes of one unfiltered row of `pixels` pixels (no filter byte); assumes it was range-checked.
    func rowBytes(_ pixels: Int) -> Int { (pixels * bitsPerPixel + 7) / 8 }

    static func isPNG(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= 8 && bytes.prefix(8).elementsEqual(signature)
    }

    /// Walks the chunks of `bytes`, which starts with the PNG signature.
    init(_ bytes: UnsafeBufferPointer<UInt8>) throws(Malformed) {
        guard Self.isPNG(bytes) else { throw Malformed(reason: "no PNG signature") }
        var position = 8
        var index = 0
        var sawIHDR = false, sawIEND = false
        var idatState = 0  // 0 before IDAT, 1 in the IDAT run, 2 after it
        func u32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        while !sawIEND {
            guard bytes.count - position >= 12 else {
                throw Malformed(reason: position == bytes.count ? "no IEND chunk" : "truncated chunk header at offset \(position)")
            }
            let length = u32(position)
            let type = u32(position + 4)
            guard length <= 0x7FFF_FFFF, Int(length) <= bytes.count - position - 12 else {
                throw Malformed(reason: "chunk \(index) is truncated or longer than the file")
            }
            guard Self.isLetters(type) else { throw Malformed(reason: "chunk \(index) has an invalid type") }
            let data = position + 8..<position + 8 + Int(length)
            let storedCRC = u32(data.upperBound)
            let crc = CRC32.checksum(UnsafeBufferPointer(rebasing: bytes[position + 4..<data.upperBound]))
            guard crc == storedCRC else { throw Malformed(reason: "bad CRC in chunk \(index) (\(Self.name(of: type)))") }
            if index == 0, type != Self.IHDR { throw Malformed(reason: "the first chunk is not IHDR") }
            if idatState == 1, type != Self.IDAT { idatState = 2 }
            let chunk = Chunk(type: type, data: data, afterImageData: idatState == 2)
            switch type {
            case Self.IHDR:
                guard !sawIHDR else { throw Malformed(reason: "a second IHDR chunk") }
                sawIHDR = true
                try readHeader(bytes, data)
            case Self.PLTE:
                guard palette == nil, idatState == 0, transparency == nil else { throw Malformed(reason: "PLTE repeated or out of order") }
                guard colourType != 0, colourType != 4 else { throw Malformed(reason: "PLTE in a greyscale image") }
                let entries = data.count / 3
                guard data.count % 3 == 0, entries >= 1, entries <= 256, colourType != 3 || entries <= 1 << Int(bitDepth) else {
                    throw Malformed(reason: "PLTE has an invalid length (\(data.count) bytes)")
                }
                palette = data
            case Self.tRNS:
                guard transparency == nil, idatState == 0 else { throw Malformed(reason: "tRNS repeated or after IDAT") }
                switch colourType {
                case 0: guard data.count == 2 else { throw Malformed(reason: "tRNS has an invalid length") }
                case 2: guard data.count == 6 else { throw Malformed(reason: "tRNS has an invalid length") }
                case 3:
                    guard let palette, data.count <= palette.count / 3 else {
                        throw Malformed(reason: "tRNS before PLTE or longer than the palette")
                    }
                default: throw Malformed(reason: "tRNS in an image with an alpha channel")
                }
                transparency = data
            case Self.IDAT:
                guard idatState != 2 else { throw Malformed(reason: "IDAT chunks are not consecutive") }
                if colourType == 3, palette == nil { throw Malformed(reason: "a palette image without PLTE") }
                idatState = 1
                if !data.isEmpty { imageData.append(data) }
            case Self.IEND:
                guard data.isEmpty else { throw Malformed(reason: "IEND has data") }
                sawIEND = true
            default:
                guard chunk.isAncillary else { throw Malformed(reason: "unknown critical chunk \(chunk.name)") }
                if Self.ignoredAncillary.contains(type), data.count <= Self.maxIgnoredChunkBytes, !Self.isRawProfile(chunk, bytes) {
                    ignored.append(chunk)
                } else {
                    counted.append(chunk)
                }
            }
            position = data.upperBound + 4
            index += 1
        }
        guard idatState != 0, !imageData.isEmpty else { throw Malformed(reason: "no image data (IDAT)") }
        trailingBytes = bytes.count - position
    }

    private mutating func readHeader(_ bytes: UnsafeBufferPointer<UInt8>, _ data: Range<Int>) throws(Malformed) {
        guard data.count == 13 else { throw Malformed(reason: "IHDR has length \(data.count), not 13") }
        let b = data.lowerBound
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        width = u32(b)
        height = u32(b + 4)
        bitDepth = bytes[b + 8]
        colourType = bytes[b + 9]
        guard (1...0x7FFF_FFFF).contains(width), (1...0x7FFF_FFFF).contains(height) else {
            throw Malformed(reason: "IHDR has a zero or too large dimension")
        }
        let allowed: [UInt8]
        switch colourType {
        case 0: allowed = [1, 2, 4, 8, 16]
        case 3: allowed = [1, 2, 4, 8]
        case 2, 4, 6: allowed = [8, 16]
        default: throw Malformed(reason: "IHDR has an invalid colour type \(colourType)")
        }
        guard allowed.contains(bitDepth) else { throw Malformed(reason: "IHDR has an invalid bit depth \(bitDepth)") }
        guard bytes[b + 10] == 0, bytes[b + 11] == 0, bytes[b + 12] <= 1 else {
            throw Malformed(reason: "IHDR has an unknown compression, filter or interlace method")
        }
        interlaced = bytes[b + 12] == 1
    }

    static func code(_ name: StaticString) -> UInt32 {
        let p = name.utf8Start
        return UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
    }

    static func name(of type: UInt32) -> String {
        String(decoding: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: type >> $0) }, as: UTF8.self)
    }

    /// Whether `chunk` is a text chunk whose keyword starts `Raw profile` in any case: ImageMagick's way to
    /// carry EXIF in text (`Raw profile type exif`, `… APP1`), which OpenCV's PNG reader knows about. It
    /// does not apply it when decoding (measured), but such a chunk counts rather than rely on that.
    static func isRawProfile(_ chunk: Chunk, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard chunk.type == tEXt || chunk.type == zTXt || chunk.type == iTXt, chunk.data.count >= rawProfilePrefix.count else {
            return false
        }
        let keyword = bytes[chunk.data.lowerBound..<chunk.data.lowerBound + rawProfilePrefix.count]
        return zip(keyword, rawProfilePrefix).allSatisfy { byte, expected in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 == expected : byte == expected
        }
    }

    private static func isLetters(_ type: UInt32) -> Bool {
        [24, 16, 8, 0].allSatisfy { shift in
            let byte = UInt8(truncatingIfNeeded: type >> UInt32(shift))
            return (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
    }
}
