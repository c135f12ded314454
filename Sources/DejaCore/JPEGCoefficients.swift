/// The quantised DCT coefficients of a Huffman-coded 8-bit JPEG, read from its tables, frame and scans as
/// libjpeg reads them — no IDCT, no pixels.
///
/// Reads baseline and extended sequential (SOF0, SOF1) and progressive (SOF2: spectral selection,
/// successive approximation, EOB runs) scans, interleaved or not, with restart intervals and any sampling
/// factors libjpeg upsamples (each a divisor of the largest). Anything else — arithmetic coding, lossless
/// or hierarchical frames, 12-bit samples, DNL, a table or component missing where a scan needs it, a
/// Huffman code or restart marker out of place, data ending early or left over, a coefficient outside
/// 16 bits, a progression libjpeg would warn about, coefficients never coded to their last bit — is
/// ``Unsupported``: the caller keys the file another way, since a decoder may fill such gaps in ways this
/// reader does not reproduce. The work is linear in the number of coefficients (a progressive file may code
/// each coefficient at most once plus once per refined bit), bounded by ``ImageLimits``.
struct JPEGCoefficients {
    /// The file is outside what this reader decodes exactly; the reason is for notes.
    struct Unsupported: Error, Equatable {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Why a file was not read.
    enum Failure: Error {
        /// Keyed another way; see ``Unsupported``.
        case unsupported(Unsupported)
        /// Passed ``ImageLimits``: the message says what and by how much.
        case tooLarge(String)
    }

    /// One colour component: its frame facts and its blocks.
    struct Component {
        var identifier: UInt8
        var horizontal: Int
        var vertical: Int
        var tableSlot: Int
        /// The quantisation table latched at the component's first scan (as libjpeg latches it), in
        /// natural order.
        var quantisation: [UInt16]?
        /// Blocks that hold image samples (the decoder outputs only these).
        var widthInBlocks = 0
        var heightInBlocks = 0
        /// Blocks stored: whole MCUs of an interleaved scan, padding included.
        var storedWidth = 0
        var storedHeight = 0
        /// Where the component's first stored block starts in ``JPEGCoefficients/coefficients``.
        var base = 0
        /// For each zig-zag position, the bit down to which it is known (0: complete), or -1 if never coded.
        var known = [Int8](repeating: -1, count: 64)
    }

    var width = 0
    var height = 0
    var progressive = false
    var components: [Component] = []
    /// 64 coefficients per stored block, component by component, row by row, each block in natural order.
    var coefficients: [Int16] = []

    /// `natural[k]` is the natural-order index of zig-zag position `k`.
    static let natural: [Int] = [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
        28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
        54, 47, 55, 62, 63,
    ]

    /// Decodes the file ``JPEGFile/read(_:)`` has walked: its decoding records in file order.
    static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>,
        records: [JPEGFile.Record],
        limits: ImageLimits
    ) throws(Failure) -> JPEGCoefficients {
        var state = Decoder(bytes: bytes, limits: limits)
        do {
            var index = 0
            while index < records.count {
                let record = records[index]
                index += 1
                guard record.isDecoding else { continue }
                let payload = UnsafeBufferPointer(rebasing: bytes[record.range])
                switch record.kind {
                case 0xDB: try state.defineQuantisation(payload)
                case 0xC4: try state.defineHuffman(payload)
                case 0xDD: try state.defineRestart(payload)
                case 0xC0, 0xC1, 0xC2: try state.frame(payload, progressive: record.kind == 0xC2)
                case 0xDA:
                    guard index < records.count, records[index].kind == JPEGFile.scanDataKind else {
                        throw Unsupported("a scan without data")
                    }
                    try state.scan(header: payload, data: UnsafeBufferPointer(rebasing: bytes[records[index].range]))
                    index += 1
                case 0xC3: throw Unsupported("lossless coding is not decoded")
                case 0xC9...0xCF: throw Unsupported("arithmetic coding is not decoded")
                case 0xC5...0xC7, 0xDE, 0xDF: throw Unsupported("hierarchical coding is not decoded")
                case 0xDC: throw Unsupported("DNL is not decoded")
                default: throw Unsupported("an unknown marker")
                }
            }
            try state.finish()
        } catch let failure as Unsupported {
            throw .unsupported(failure)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .unsupported(Unsupported("unreadable"))
        }
        return state.image
    }
}

extension JPEGCoefficients {
    /// The decoder's state while walking the records: tables as defined so far, the frame, scans seen.
    struct Decoder {
        let bytes: UnsafeBufferPointer<UInt8>
        let limits: ImageLimits
        var image = JPEGCoefficients()
        var sawFrame = false
        var quantisation: [[UInt16]?] = [nil, nil, nil, nil]
        var dcTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
        var acTables: [JPEGHuffmanTable?] = [nil, nil, nil, nil]
        var restartInterval = 0
        var maxHorizontal = 1
        var maxVertical = 1

        init(bytes: UnsafeBufferPointer<UInt8>, limits: ImageLimits) {
            self.bytes = bytes
            self.limits = limits
        }

        mutating func defineQuantisation(_ payload: UnsafeBufferPointer<UInt8>) throws(Unsupported) {
            var at = 0
            while at < payload.count {
                let precision = payload[at] >> 4, slot = Int(payload[at] & 0x0F)
                let size = precision == 0 ? 1 : 2
                guard precision <= 1, slot < 4, payload.count - at - 1 >= 64 * size else { throw Unsupported("a bad quantisation table") }
                var table = [UInt16](repeating: 0, count: 64)
                for k in 0..<64 {
                    let offset = at + 1 + k * size
                    table[JPEGCoefficients.natural[k]] = size == 1 ? UInt16(payload[offset]) : UInt16(payload[offset]) << 8 | UInt16(payload[offset + 1])
                }
                quantisation[slot] = table
                at += 1 + 64 * size
            }
        }

        mutating func defineHuffman(_ payload: UnsafeBufferPointer<UInt8>) throws(Unsupported) {
            var at = 0
            while at < payload.count {
                let selector = payload[at]
                guard selector & 0xEC == 0, payload.count - at >= 17 else { throw Unsupported("a bad Huffman table") }
                let counts = UnsafeBufferPointer(rebasing: payload[at + 1..<at + 17])
                let total = counts.reduce(0) { $0 + Int($1) }
                guard payload.count - at - 17 >= total else { throw Unsupported("a bad Huffman table") }
                let table = try JPEGHuffmanTable(counts: counts, symbols: UnsafeBufferPointer(rebasing: payload[at + 17..<at + 17 + total]))
                if selector & 0x10 == 0 { dcTables[Int(selector & 3)] = table } else { acTables[Int(selector & 3)] = table }
                at += 17 + total
            }
        }

        mutating func defineRestart(_ payload: UnsafeBufferPointer<UInt8>) throws(Unsupported) {
            guard payload.count == 2 else { throw Unsupported("a bad DRI segment") }
            restartInterval = Int(payload[0]) << 8 | Int(payload[1])
        }

        mutating func frame(_ payload: UnsafeBufferPointer<UInt8>, progressive: Bool) throws(Failure) {
            guard !sawFrame, payload.count >= 6 else { throw .unsupported(Unsupported("a bad frame header")) }
            sawFrame = true
            guard payload[0] == 8 else { throw .unsupported(Unsupported("\(payload[0])-bit samples are not decoded")) }
            let height = Int(payload[1]) << 8 | Int(payload[2]), width = Int(payload[3]) << 8 | Int(payload[4])
            let count = Int(payload[5])
            guard height > 0 else { throw .unsupported(Unsupported("DNL is not decoded")) }
            guard width > 0, (1...4).contains(count), payload.count == 6 + 3 * count else {
                throw .unsupported(Unsupported("a bad frame header"))
            }
            image.width = width
            image.height = height
            image.progressive = progressive
            for c in 0..<count {
                let at = 6 + 3 * c
                let h = Int(payload[at + 1] >> 4), v = Int(payload[at + 1] & 0x0F), slot = Int(payload[at + 2])
                guard (1...4).contains(h), (1...4).contains(v), slot < 4 else { throw .unsupported(Unsupported("a bad frame header")) }
                guard !image.components.contains(where: { $0.identifier == payload[at] }) else {
                    throw .unsupported(Unsupported("two components with one identifier"))
                }
                image.components.append(Component(identifier: payload[at], horizontal: h, vertical: v, tableSlot: slot))
            }
            maxHorizontal = image.components.map(\.horizontal).max() ?? 1
            maxVertical = image.components.map(\.vertical).max() ?? 1
            guard image.components.allSatisfy({ maxHorizontal % $0.horizontal == 0 && maxVertical % $0.vertical == 0 }) else {
                throw .unsupported(Unsupported("sampling factors that do not divide the largest"))
            }
            guard width * height <= limits.maxPixels else {
                throw .tooLarge("is a JPEG of \(width)×\(height) pixels, more than the limit of \(limits.maxPixels) pixels")
            }
            let mcuColumns = (width + 8 * maxHorizontal - 1) / (8 * maxHorizontal)
            let mcuRows = (height + 8 * maxVertical - 1) / (8 * maxVertical)
            var total = 0
            for c in image.components.indices {
                let h = image.components[c].horizontal, v = image.components[c].vertical
                image.components[c].widthInBlocks = (width * h + 8 * maxHorizontal - 1) / (8 * maxHorizontal)
                image.components[c].heightInBlocks = (height * v + 8 * maxVertical - 1) / (8 * maxVertical)
                image.components[c].storedWidth = mcuColumns * h
                image.components[c].storedHeight = mcuRows * v
                image.components[c].base = total
                total += mcuColumns * h * mcuRows * v * 64
            }
            guard total * MemoryLayout<Int16>.size <= limits.maxDecodedBytes else {
                throw .tooLarge(
                    "is a JPEG of \(width)×\(height) pixels whose DCT coefficients would pass the limit of \(limits.maxDecodedBytes) bytes"
                )
            }
            image.coefficients = [Int16](repeating: 0, count: total)
        }

        /// Checks the whole image is known: each coefficient of each component coded to its last bit.
        func finish() throws(Unsupported) {
            guard sawFrame else { throw Unsupported("no frame header") }
            for component in image.components where component.known.contains(where: { $0 != 0 }) {
                throw Unsupported(image.progressive ? "coefficients never coded to their last bit" : "a component without a scan")
            }
        }
    }
}
