import CompressNIO
import Crypto
import NIOCore

/// Inflates, unfilters and hashes a PNG's image data in one streaming pass.
///
/// Rows are hashed in the order the stream holds them: raster order, or Adam7 pass by pass for an
/// interlaced image (so an interlaced file and a non-interlaced one never share a digest, and no image
/// buffer is needed). Memory: the compressed data once, a 64 KiB inflate window and two rows, interlaced
/// or not. Every size is checked against ``ImageLimits`` before anything is allocated, and inflating
/// stops as soon as the stream holds more data than the header promises, so a decompression bomb costs
/// at most the limits.
struct PNGPixels {
    enum Failure: Error {
        case malformed(PNGFile.Malformed)
        case tooLarge(String)
    }

    /// One Adam7 pass, or the whole image: its size in pixels.
    private struct Pass {
        let width, height: Int
    }

    private static let adam7: [(Int, Int, Int, Int)] = [
        (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
    ]

    private let file: PNGFile
    private var hasher: SHA256
    private let passes: [Pass]
    private var passIndex = 0
    private var rowInPass = 0
    private var rowLength = 0
    private var filled = 0
    private var current: [UInt8]
    private var previous: [UInt8]
    /// Bytes of the inflated stream the header describes: filter bytes and filtered rows of every pass.
    private let streamBytes: Int
    private let filterStride: Int
    private(set) var finished = false

    /// The digest of `file`'s image: ``header(of:bytes:)`` then the unfiltered rows in stream order (raster
    /// order, or pass by pass when interlaced; no filter bytes; unused low bits of a row's last byte zeroed).
    /// `prefix`, when given, is hashed before the rows instead of the header (``PagePixels``).
    static func digest(
        of file: PNGFile,
        bytes: UnsafeBufferPointer<UInt8>,
        limits: ImageLimits,
        prefix: [UInt8]? = nil
    ) throws(Failure) -> SHA256.Digest {
        var pixels = try PNGPixels(file: file, limits: limits)
        pixels.hasher.update(data: prefix ?? KeyEncoding.encode(fields: [header(of: file, bytes: bytes)]))
        do {
            try pixels.inflate(bytes)
        } catch {
            throw .malformed(error)
        }
        return pixels.hasher.finalize()
    }

    /// Everything but the pixels that decides what a decoder shows, as one ``KeyEncoding``: dimensions,
    /// bit depth, colour type, interlace method, the palette (palette images only), tRNS, and every counted
    /// ancillary chunk as its type (with ` after IDAT` when it follows the image data) and data, in file
    /// order — except the `eXIf` chunk libpng keeps (the first one starting with a TIFF header `II*\0` or
    /// `MM\0*`; libpng drops the others), which counts as its orientation when ``EXIFOrientation`` can read
    /// it: nothing for 1 or none, `orientation` and the value otherwise. Other `eXIf` chunks count in full
    /// as `eXIf not read`, so that a chunk's role cannot be mistaken.
    static func header(of file: PNGFile, bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        func be32(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        func data(_ range: Range<Int>?) -> [UInt8] {
            guard let range else { return [] }
            return [1] + Array(UnsafeBufferPointer(rebasing: bytes[range]))
        }
        let kept = file.counted.firstIndex { $0.type == PNGFile.eXIf && hasTIFFHeader(UnsafeBufferPointer(rebasing: bytes[$0.data])) }
        var chunks: [[UInt8]] = []
        for (index, chunk) in file.counted.enumerated() {
            let content = UnsafeBufferPointer(rebasing: bytes[chunk.data])
            let place = chunk.afterImageData ? " after IDAT" : ""
            if chunk.type == PNGFile.eXIf, index != kept {
                chunks += [Array("eXIf not read\(place)".utf8), Array(content)]
                continue
            }
            if chunk.type == PNGFile.eXIf, content.count <= PNGFile.maxIgnoredChunkBytes {
                switch EXIFOrientation.read(content) {
                case .absent, .value(1): continue
                case .value(let value):
                    chunks += [Array("orientation".utf8), [UInt8(value >> 8), UInt8(value & 0xFF)]]
                    continue
                case .unreadable: break
                }
            }
            chunks += [Array((chunk.name + place).utf8), Array(content)]
        }
        return KeyEncoding.encode(fields: [
            Array("png".utf8), be32(file.width), be32(file.height), [file.bitDepth], [file.colourType],
            [file.interlaced ? 1 : 0], file.colourType == 3 ? data(file.palette) : [], data(file.transparency),
            KeyEncoding.encode(fields: chunks),
        ])
    }

    /// Whether `data` starts with a TIFF header, `II*\0` or `MM\0*`: what libpng requires of an `eXIf`.
    private static func hasTIFFHeader(_ data: UnsafeBufferPointer<UInt8>) -> Bool {
        data.count >= 4 && (data.prefix(4).elementsEqual([0x49, 0x49, 0x2A, 0x00]) || data.prefix(4).elementsEqual([0x4D, 0x4D, 0x00, 0x2A]))
    }

    private init(file: PNGFile, limits: ImageLimits) throws(Failure) {
        self.file = file
        let (pixels, overflow) = file.width.multipliedReportingOverflow(by: file.height)
        guard !overflow, pixels <= limits.maxPixels else {
            throw .tooLarge("is a PNG of \(file.width)×\(file.height) pixels, more than the limit of \(limits.maxPixels) pixels")
        }
        // width ≤ 2^31 and 64 bits per pixel at most, so row sizes cannot overflow; totals are checked.
        let rowBytes = file.rowBytes(file.width)
        var passes: [Pass] = []
        if file.interlaced {
            for (startX, startY, stepX, stepY) in Self.adam7 {
                let width = file.width > startX ? (file.width - startX + stepX - 1) / stepX : 0
                let height = file.height > startY ? (file.height - startY + stepY - 1) / stepY : 0
                if width > 0, height > 0 {
                    passes.append(Pass(width: width, height: height))
                }
            }
        } else {
            passes = [Pass(width: file.width, height: file.height)]
        }
        var streamBytes = 0
        for pass in passes {
            let (bytes, overflow) = pass.height.multipliedReportingOverflow(by: file.rowBytes(pass.width) + 1)
            streamBytes = overflow ? Int.max : streamBytes.addingReportingOverflow(bytes).overflow ? Int.max : streamBytes + bytes
        }
        let (imageBytes, imageOverflow) = rowBytes.multipliedReportingOverflow(by: file.height)
        guard !imageOverflow, imageBytes <= limits.maxDecodedBytes, streamBytes <= limits.maxDecodedBytes else {
            throw .tooLarge(
                "is a PNG of \(file.width)×\(file.height) pixels whose decoded data would pass the limit of \(limits.maxDecodedBytes) bytes"
            )
        }
        self.passes = passes
        self.streamBytes = streamBytes
        filterStride = max(1, file.bitsPerPixel / 8)
        current = [UInt8](repeating: 0, count: rowBytes + 1)
        previous = [UInt8](repeating: 0, count: rowBytes + 1)
        hasher = SHA256()
        rowLength = file.rowBytes(passes[0].width) + 1
    }

    private mutating func inflate(_ bytes: UnsafeBufferPointer<UInt8>) throws(PNGFile.Malformed) {
        var input = ByteBufferAllocator().buffer(capacity: file.imageData.reduce(1) { $0 + $1.count })
        for range in file.imageData { input.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range]))) }
        // libpng inflates with the window the zlib header declares (CINFO: 2^(CINFO+8) bytes) and fails on
        // a distance beyond it, except where it reaches into output of the same inflate call, which depends
        // on how libpng cuts its calls. A stream that fits in its declared window cannot reach beyond it.
        if let cmf = input.getInteger(at: input.readerIndex, as: UInt8.self), cmf >> 4 < 7 {
            let window = 1 << (Int(cmf >> 4) + 8)
            guard streamBytes <= window else {
                throw PNGFile.Malformed(reason: "the zlib header declares a \(window)-byte window, smaller than the \(streamBytes) bytes of image data")
            }
        }
        // A sentinel byte: the zlib stream ended exactly at the end of the IDAT data iff inflate returns
        // without consuming it.
        input.writeInteger(UInt8(0))
        let inflater: ZlibDecompressor
        do {
            inflater = try ZlibDecompressor(algorithm: .zlib, windowSize: 15)
        } catch {
            throw PNGFile.Malformed(reason: "zlib could not start")
        }
        var window = ByteBufferAllocator().buffer(capacity: 1 << 16)
        while true {
            guard input.readableBytes > 0 else { throw PNGFile.Malformed(reason: "the zlib stream is truncated") }
            let ended: Bool
            do throws(ZlibStep.Failure) {
                ended = try ZlibStep.run(inflater, from: &input, into: &window)
            } catch {
                throw PNGFile.Malformed(reason: "the " + error.reason)
            }
            let consumed = window.withUnsafeReadableBytes { chunk in
                Result { () throws(PNGFile.Malformed) in try consume(chunk) }
            }
            try consumed.get()
            if ended {
                guard input.readableBytes > 0 else { throw PNGFile.Malformed(reason: "the zlib stream is truncated") }
                guard input.readableBytes == 1 else { throw PNGFile.Malformed(reason: "data after the end of the zlib stream") }
                break
            }
        }
        guard finished else { throw PNGFile.Malformed(reason: "the image data ends before the last row") }
    }

    private mutating func consume(_ chunk: UnsafeRawBufferPointer) throws(PNGFile.Malformed) {
        var offset = 0
        while offset < chunk.count {
            guard !finished else { throw PNGFile.Malformed(reason: "more image data than the header describes") }
            let take = min(rowLength - filled, chunk.count - offset)
            let start = filled
            current.withUnsafeMutableBytes { row in
                row.baseAddress!.advanced(by: start).copyMemory(from: chunk.baseAddress!.advanced(by: offset), byteCount: take)
            }
            filled += take
            offset += take
            if filled == rowLength { try finishRow() }
        }
    }

    private mutating func finishRow() throws(PNGFile.Malformed) {
        let length = rowLength
        let stride = filterStride
        let filter = current[0]
        guard filter <= 4 else { throw PNGFile.Malformed(reason: "an unknown row filter \(filter)") }
        var row: [UInt8] = []
        swap(&row, &current)
        let prior = previous
        row.withUnsafeMutableBufferPointer { row in
            prior.withUnsafeBufferPointer { prior in
                Self.unfilter(filter, row: row, prior: prior, length: length, stride: stride)
            }
        }
        swap(&row, &current)
        emitRow()
        swap(&current, &previous)
        filled = 0
        rowInPass += 1
        if rowInPass == passes[passIndex].height {
            passIndex += 1
            rowInPass = 0
            if passIndex == passes.count {
                finished = true
            } else {
                rowLength = file.rowBytes(passes[passIndex].width) + 1
                for index in 0..<rowLength { previous[index] = 0 }
            }
        }
    }

    /// Reverses the row filter in place; byte 0 of `row` and `prior` is the filter byte.
    static func unfilter(
        _ filter: UInt8, row: UnsafeMutableBufferPointer<UInt8>, prior: UnsafeBufferPointer<UInt8>, length: Int, stride: Int
    ) {
        switch filter {
        case 1:
            var i = 1 + stride
            while i < length { row[i] &+= row[i - stride]; i += 1 }
        case 2:
            var i = 1
            while i < length { row[i] &+= prior[i]; i += 1 }
        case 3:
            var i = 1
            while i < length {
                let left = i > stride ? Int(row[i - stride]) : 0
                row[i] &+= UInt8((left + Int(prior[i])) >> 1)
                i += 1
            }
        case 4:
            var i = 1
            while i < length {
                let a = i > stride ? Int(row[i - stride]) : 0
                let b = Int(prior[i])
                let c = i > stride ? Int(prior[i - stride]) : 0
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                row[i] &+= UInt8(pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
                i += 1
            }
        default:
            break
        }
    }

    /// Hashes the unfiltered row just finished, without its filter byte, the unused low bits of its last
    /// byte zeroed.
    private mutating func emitRow() {
        let usedBits = (passes[passIndex].width * file.bitsPerPixel) % 8
        let current = self.current
        let rowLength = self.rowLength
        current.withUnsafeBytes { row in
            let body = UnsafeRawBufferPointer(rebasing: row[1..<rowLength])
            if usedBits == 0 {
                hasher.update(bufferPointer: body)
            } else {
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: body.dropLast()))
                let last = body[body.count - 1] & UInt8(truncatingIfNeeded: 0xFF << (8 - usedBits))
                withUnsafeBytes(of: last) { hasher.update(bufferPointer: $0) }
            }
        }
    }
}
