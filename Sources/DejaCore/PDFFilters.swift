import CompressNIO
import NIOCore

/// The stream filters Deja decodes exactly (ISO 32000-1 §7.4): `FlateDecode` (with no predictor or a PNG
/// predictor), `ASCIIHexDecode`, `ASCII85Decode` and `RunLengthDecode`.
///
/// Filters are applied in order until one that is not decoded here (`LZWDecode`, `DCTDecode`, `JPXDecode`,
/// `CCITTFaxDecode`, `JBIG2Decode`, `Crypt`, a TIFF predictor, an unknown name): that filter and those after
/// it remain, and the stream is keyed on the bytes they would decode together with their names and
/// parameters — identical encoded bytes under identical filters decode identically. A filter that is decoded
/// here but whose data is damaged (a truncated or corrupt zlib stream, a bad character) is
/// ``PDFFile/NotSure``: readers repair such data in different ways.
enum PDFFilters {
    /// A filter and its `/DecodeParms` entry.
    struct Step {
        var name: PDFName
        var parameters: PDFDictionary?
    }

    /// What decoding a stream gave: the bytes after the decoded filters and the filters that remain.
    struct Decoded {
        var bytes: [UInt8]
        var remaining: [Step]
    }

    /// Applies `steps` to `data` while they are decoded here; `budget` is the decoded bytes still allowed
    /// (``PDFLimits``), reduced by what this stream decodes to.
    static func decode(
        _ data: UnsafeBufferPointer<UInt8>, steps: [Step], budget: inout Int
    ) throws(PDFFile.NotSure) -> Decoded {
        var bytes = Array(data)
        for (index, step) in steps.enumerated() {
            let output: [UInt8]
            switch step.name {
            case "FlateDecode":
                guard let predictor = try Predictor(step.parameters) else {
                    return Decoded(bytes: bytes, remaining: Array(steps[index...]))
                }
                output = try predictor.apply(to: try inflate(bytes, budget: budget))
            case "ASCIIHexDecode": output = try asciiHex(bytes)
            case "ASCII85Decode": output = try ascii85(bytes)
            case "RunLengthDecode": output = try runLength(bytes, budget: budget)
            default:
                return Decoded(bytes: bytes, remaining: Array(steps[index...]))
            }
            guard output.count <= budget else {
                throw PDFFile.NotSure("its streams decode to more bytes than the decoded-bytes limit allows")
            }
            budget -= output.count
            bytes = output
        }
        return Decoded(bytes: bytes, remaining: [])
    }

    /// Inflates a zlib stream whole; bytes after its end are ignored (every reader stops there). More
    /// than `budget` bytes of output, a truncated or corrupt stream is ``PDFFile/NotSure``.
    static func inflate(_ bytes: [UInt8], budget: Int) throws(PDFFile.NotSure) -> [UInt8] {
        var input = ByteBufferAllocator().buffer(capacity: bytes.count + 1)
        input.writeBytes(bytes)
        let inflater: ZlibDecompressor
        do {
            inflater = try ZlibDecompressor(algorithm: .zlib, windowSize: 15)
        } catch {
            throw PDFFile.NotSure("zlib could not start")
        }
        var output: [UInt8] = []
        var window = ByteBufferAllocator().buffer(capacity: 1 << 16)
        while true {
            let ended: Bool
            do throws(ZlibStep.Failure) {
                ended = try ZlibStep.run(inflater, from: &input, into: &window)
            } catch {
                throw PDFFile.NotSure("a " + error.reason)
            }
            guard output.count + window.readableBytes <= budget else {
                throw PDFFile.NotSure("its streams decode to more bytes than the decoded-bytes limit allows")
            }
            window.withUnsafeReadableBytes { output.append(contentsOf: $0) }
            if ended { return output }
        }
    }

    /// A `FlateDecode` predictor (§7.4.4.4): none, or PNG rows (10–15) of `Colors` × `BitsPerComponent`
    /// × `Columns` bits, each row with its own filter byte.
    struct Predictor {
        var rowBytes = 0
        var stride = 1

        /// `nil` where the predictor is not decoded here (TIFF predictor 2, an unknown value, odd sizes).
        init?(_ parameters: PDFDictionary?) throws(PDFFile.NotSure) {
            let predictor = parameters?["Predictor"]?.integer ?? 1
            guard predictor != 1 else { return }
            let colours = parameters?["Colors"]?.integer ?? 1
            let bits = parameters?["BitsPerComponent"]?.integer ?? 8
            let columns = parameters?["Columns"]?.integer ?? 1
            guard (10...15).contains(predictor), (1...32).contains(colours), [1, 2, 4, 8, 16].contains(bits),
                  (1...(1 << 24)).contains(columns)
            else { return nil }
            rowBytes = (colours * bits * columns + 7) / 8
            stride = max(1, colours * bits / 8)
        }

        func apply(to bytes: [UInt8]) throws(PDFFile.NotSure) -> [UInt8] {
            guard rowBytes > 0 else { return bytes }
            let length = rowBytes + 1
            guard bytes.count % length == 0 else {
                throw PDFFile.NotSure("PNG-predicted data that is not whole rows of \(length) bytes")
            }
            var output: [UInt8] = []
            output.reserveCapacity(bytes.count / length * rowBytes)
            var previous = [UInt8](repeating: 0, count: length)
            var row = [UInt8](repeating: 0, count: length)
            var start = 0
            while start < bytes.count {
                let filter = bytes[start]
                guard filter <= 4 else { throw PDFFile.NotSure("an unknown PNG predictor row filter \(filter)") }
                row.replaceSubrange(0..<length, with: bytes[start..<start + length])
                row.withUnsafeMutableBufferPointer { row in
                    previous.withUnsafeBufferPointer { prior in
                        PNGPixels.unfilter(filter, row: row, prior: prior, length: length, stride: stride)
                    }
                }
                output.append(contentsOf: row[1...])
                swap(&row, &previous)
                start += length
            }
            return output
        }
    }

    static func asciiHex(_ bytes: [UInt8]) throws(PDFFile.NotSure) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 2)
        var high: UInt8?
        for byte in bytes {
            if byte == UInt8(ascii: ">") { break }
            if PDFSyntax.isWhiteSpace(byte) { continue }
            guard let value = PDFSyntax.hexValue(byte) else { throw PDFFile.NotSure("a bad character in ASCIIHex data") }
            if let pending = high {
                output.append(pending << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        if let high { output.append(high << 4) }
        return output
    }

    static func ascii85(_ bytes: [UInt8]) throws(PDFFile.NotSure) -> [UInt8] {
        // A `<~` prefix (PostScript's) is not PDF's: readers differ on whether it is data.
        if bytes.drop(while: PDFSyntax.isWhiteSpace).starts(with: [UInt8(ascii: "<"), UInt8(ascii: "~")]) {
            throw PDFFile.NotSure("ASCII85 data starting with '<~'")
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count / 5 * 4 + 4)
        var group: UInt64 = 0
        var count = 0
        var ended = false
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if PDFSyntax.isWhiteSpace(byte) { continue }
            if byte == UInt8(ascii: "~") {
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else {
                    throw PDFFile.NotSure("ASCII85 data with a '~' not followed by '>'")
                }
                ended = true
                break
            }
            if byte == UInt8(ascii: "z"), count == 0 {
                output += [0, 0, 0, 0]
                continue
            }
            guard (UInt8(ascii: "!")...UInt8(ascii: "u")).contains(byte) else {
                throw PDFFile.NotSure("a bad character in ASCII85 data")
            }
            group = group * 85 + UInt64(byte - UInt8(ascii: "!"))
            count += 1
            if count == 5 {
                guard group <= UInt64(UInt32.max) else { throw PDFFile.NotSure("an ASCII85 group past 2^32") }
                for shift in [24, 16, 8, 0] { output.append(UInt8(truncatingIfNeeded: group >> UInt64(shift))) }
                group = 0
                count = 0
            }
        }
        guard ended else { throw PDFFile.NotSure("ASCII85 data without its '~>' end") }
        if count == 1 { throw PDFFile.NotSure("ASCII85 data ending in a group of one character") }
        if count > 1 {
            for _ in count..<5 { group = group * 85 + 84 }
            guard group <= UInt64(UInt32.max) else { throw PDFFile.NotSure("an ASCII85 group past 2^32") }
            for shift in [24, 16, 8, 0].prefix(count - 1) { output.append(UInt8(truncatingIfNeeded: group >> UInt64(shift))) }
        }
        return output
    }

    static func runLength(_ bytes: [UInt8], budget: Int) throws(PDFFile.NotSure) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let length = Int(bytes[index])
            index += 1
            if length == 128 { return output }
            if length < 128 {
                guard bytes.count - index >= length + 1 else { throw PDFFile.NotSure("RunLength data cut short") }
                output.append(contentsOf: bytes[index..<index + length + 1])
                index += length + 1
            } else {
                guard index < bytes.count else { throw PDFFile.NotSure("RunLength data cut short") }
                output.append(contentsOf: repeatElement(bytes[index], count: 257 - length))
                index += 1
            }
            guard output.count <= budget else {
                throw PDFFile.NotSure("its streams decode to more bytes than the decoded-bytes limit allows")
            }
        }
        throw PDFFile.NotSure("RunLength data without its end-of-data byte")
    }
}
