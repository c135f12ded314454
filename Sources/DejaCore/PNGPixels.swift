import CompressNIO
import Crypto
import NIOCore

/// Inflates, unfilters and hashes a PNG's image data in one streaming pass.
///
/// Memory: the compressed data once, a 64 KiB inflate window and two rows; an interlaced image also
/// needs the whole unfiltered image to put its Adam7 passes in raster order. Every size is checked
/// against ``ImageLimits`` before anything is allocated, and inflating stops as soon as the stream
/// holds more data than the header promises, so a decompression bomb costs at most the limits.
struct PNGPixels {
    enum Failure: Error {
        case malformed(PNGFile.Malformed)
        case tooLarge(String)
    }

    private struct Pass {
        let startX, startY, stepX, stepY, width, height: Int
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
    private var image: [UInt8]
    private let imageRowBytes: Int
    private let filterStride: Int
    private(set) var finished = false

    /// The digest of `file`'s image: ``header(of:bytes:)`` then the unfiltered rows in raster order
    /// (no filter bytes; unused low bits of a row's last byte zeroed).
    static func digest(
        of file: PNGFile,
        bytes: UnsafeBufferPointer<UInt8>,
        limits: ImageLimits
    ) throws(Failure) -> SHA256.Digest {
        var pixels = try PNGPixels(file: file, limits: limits)
        let header = header(of: file, bytes: bytes)
        pixels.hasher.update(data: KeyEncoding.encode(fields: [header]))
        do {
            try pixels.inflate(bytes)
        } catch {
            throw .malformed(error)
        }
        return pixels.hasher.finalize()
    }

    /// Everything but the pixels that decides what a decoder shows, as one ``KeyEncoding``: dimensions,
    /// bit depth, colour type, the palette (palette images only), tRNS, the EXIF orientation of `eXIf`
    /// when it is not 1, and every other counted ancillary chunk as its type and data, in file order.
    static func header(of file: PNGFile, bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        func be32(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        func data(_ range: Range<Int>?) -> [UInt8] {
            guard let range else { return [] }
            return [1] + Array(UnsafeBufferPointer(rebasing: bytes[range]))
        }
        var chunks: [[UInt8]] = []
        for chunk in file.counted {
            if chunk.type == PNGFile.eXIf {
                switch EXIFOrientation.read(UnsafeBufferPointer(rebasing: bytes[chunk.data])) {
                case .absent, .value(1): continue
                case .value(let value):
                    chunks += [Array("orientation".utf8), [UInt8(value >> 8), UInt8(value & 0xFF)]]
                    continue
                case .unreadable: break
                }
            }
            chunks += [Array(chunk.name.utf8), Array(UnsafeBufferPointer(rebasing: bytes[chunk.data]))]
        }
        return KeyEncoding.encode(fields: [
            Array("png".utf8), be32(file.width), be32(file.height), [file.bitDepth], [file.colourType],
            file.colourType == 3 ? data(file.palette) : [], data(file.transparency), KeyEncoding.encode(fields: chunks),
        ])
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
                    passes.append(Pass(startX: startX, startY: startY, stepX: stepX, stepY: stepY, width: width, height: height))
                }
            }
        } else {
            passes = [Pass(startX: 0, startY: 0, stepX: 1, stepY: 1, width: file.width, height: file.height)]
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
        imageRowBytes = rowBytes
        filterStride = max(1, file.bitsPerPixel / 8)
        current = [UInt8](repeating: 0, count: rowBytes + 1)
        previous = [UInt8](repeating: 0, count: rowBytes + 1)
        image = file.interlaced ? [UInt8](repeating: 0, count: imageBytes) : []
        hasher = SHA256()
        rowLength = file.rowBytes(passes[0].width) + 1
    }

    private mutating func inflate(_ bytes: UnsafeBufferPointer<UInt8>) throws(PNGFile.Malformed) {
        var input = ByteBufferAllocator().buffer(capacity: file.imageData.reduce(1) { $0 + $1.count })
        for range in file.imageData { input.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range]))) }
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
            window.clear()
            var ended = false
            do {
                try inflater.inflate(from: &input, to: &window)
                ended = true
            } catch let error as CompressNIOError where error == .bufferOverflow {
                guard window.readableBytes > 0 else { throw PNGFile.Malformed(reason: "the zlib stream makes no progress") }
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                throw PNGFile.Malformed(reason: "the zlib stream is truncated")
            } catch {
                throw PNGFile.Malformed(reason: "the zlib stream is corrupt")
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
        if file.interlaced {
            let image = self.image
            image.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
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
    private static func unfilter(
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

    private mutating func emitRow() {
        let pass = passes[passIndex]
        let bits = file.bitsPerPixel
        let current = self.current
        let rowLength = self.rowLength
        if !file.interlaced {
            let usedBits = (pass.width * bits) % 8
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
            return
        }
        let y = pass.startY + rowInPass * pass.stepY
        let rowStart = y * imageRowBytes
        var image: [UInt8] = []
        swap(&image, &self.image)
        defer { swap(&image, &self.image) }
        current.withUnsafeBufferPointer { row in
            image.withUnsafeMutableBufferPointer { out in
                if bits >= 8 {
                    let size = bits / 8
                    for i in 0..<pass.width {
                        let x = pass.startX + i * pass.stepX
                        for k in 0..<size { out[rowStart + x * size + k] = row[1 + i * size + k] }
                    }
                } else {
                    let mask = UInt8(truncatingIfNeeded: (1 << bits) - 1)
                    for i in 0..<pass.width {
                        let sourceBit = i * bits
                        let value = row[1 + sourceBit / 8] >> UInt8(8 - bits - sourceBit % 8) & mask
                        let x = pass.startX + i * pass.stepX
                        let targetBit = x * bits
                        out[rowStart + targetBit / 8] |= value << UInt8(8 - bits - targetBit % 8)
                    }
                }
            }
        }
    }
}
