import Crypto

/// Chooses what a decoded binary member is keyed on: a PNG's image, a JPEG's DCT coefficients (or, where
/// those cannot be read exactly, its decoding segments and scan data), what a PDF's pages draw, or the bytes.
///
/// A file that starts like a PNG or JPEG but is malformed (truncated, bad CRC, bad zlib stream, broken
/// segment) is keyed on its bytes, so the model decides what it is; only ``ImageLimits`` produce an error.
enum ImageContent {
    struct Outcome {
        var digest: ContentDigest
        /// What was found, for `deja explain`, without the member name.
        var notes: [String] = []
    }

    /// An image passed ``ImageLimits``; the message says what and by how much.
    struct TooLarge: Error {
        let message: String
    }

    static func digest(
        of bytes: UnsafeBufferPointer<UInt8>,
        limits: ImageLimits,
        cache: (any ContentDigestCache)?,
        scope: String
    ) throws(TooLarge) -> Outcome {
        let isPNG = PNGFile.isPNG(bytes)
        let isJPEG = !isPNG && JPEGFile.isJPEG(bytes)
        let isPDF = !isPNG && !isJPEG && PDFFile.isPDF(bytes)
        guard isPNG || isJPEG || isPDF else { return Outcome(digest: plain(bytes)) }
        let rawKey = cache.map { _ in ContentDigest.rawKey(of: UnsafeRawBufferPointer(bytes), scope: scope) }
        if let cache, let rawKey, let known = cache.contentDigest(forRaw: rawKey) {
            let format = isPNG ? "PNG" : isJPEG ? "JPEG" : "PDF"
            return Outcome(digest: known, notes: ["\(format) content digest reused: these exact bytes were read before"])
        }
        let outcome = isPDF ? pdf(bytes, limits: limits) : try isPNG ? png(bytes, limits: limits) : jpeg(bytes, limits: limits)
        if let cache, let rawKey { cache.remember(raw: rawKey, content: outcome.digest) }
        return outcome
    }

    static func plain(_ bytes: UnsafeBufferPointer<UInt8>) -> ContentDigest {
        ContentDigest(kind: .bytes, digest: CacheKey(digest: SHA256.hash(data: UnsafeRawBufferPointer(bytes))))
    }

    private static func png(_ bytes: UnsafeBufferPointer<UInt8>, limits: ImageLimits) throws(TooLarge) -> Outcome {
        let file: PNGFile
        let digest: SHA256.Digest
        do {
            file = try PNGFile(bytes)
            digest = try PNGPixels.digest(of: file, bytes: bytes, limits: limits)
        } catch let error as PNGFile.Malformed {
            return fallback(bytes, "PNG", error.reason)
        } catch let error as PNGPixels.Failure {
            switch error {
            case .malformed(let malformed): return fallback(bytes, "PNG", malformed.reason)
            case .tooLarge(let message): throw TooLarge(message: message)
            }
        } catch {
            return fallback(bytes, "PNG", "unreadable")
        }
        var parts = ["PNG \(file.width)×\(file.height) \(colourName(file.colourType)) \(file.bitDepth)-bit\(file.interlaced ? " interlaced" : "")"]
        if !file.ignored.isEmpty {
            let count = file.ignored.count
            parts.append("\(count) ancillary \(count == 1 ? "chunk" : "chunks") ignored (\(distinctNames(file.ignored.map(\.name))))")
        }
        if !file.counted.isEmpty {
            parts.append("counted: \(distinctNames(file.counted.map(\.name)))")
        }
        if file.trailingBytes > 0 { parts.append("\(file.trailingBytes) bytes after IEND ignored") }
        return Outcome(digest: ContentDigest(kind: .pngPixels, digest: CacheKey(digest: digest)), notes: [parts.joined(separator: "; ")])
    }

    private static func jpeg(_ bytes: UnsafeBufferPointer<UInt8>, limits: ImageLimits) throws(TooLarge) -> Outcome {
        let summary: JPEGFile.Summary
        do {
            summary = try JPEGFile.read(bytes)
        } catch {
            return fallback(bytes, "JPEG", error.reason)
        }
        let components = summary.components == 1 ? "1 component" : "\(summary.components) components"
        var heading = "JPEG \(summary.width)×\(summary.height) \(components) \(summary.frame)"
        let digest: ContentDigest
        do {
            let image = try JPEGCoefficients.decode(bytes, records: summary.records, limits: limits)
            digest = ContentDigest(kind: .jpegDCT, digest: CacheKey(digest: image.digest(summary, bytes: bytes)))
            heading += ", keyed on DCT coefficients"
        } catch {
            // A JPEG too big to read to its coefficients within the limits is keyed as version 4 keyed every
            // JPEG: on its segments and scan data, which needs no memory beyond the file. It is never
            // refused for its size here: the model server has its own limits.
            let reason = switch error {
            case .tooLarge(let message): "\(message.replacingOccurrences(of: "is a JPEG", with: "a JPEG")), so not read to its coefficients"
            case .unsupported(let unsupported): unsupported.reason
            }
            digest = ContentDigest(kind: .jpegScan, digest: CacheKey(digest: JPEGFile.segmentDigest(summary, bytes: bytes)))
            heading += ", keyed on segments and scan data (\(reason))"
        }
        var parts = [heading]
        if !summary.ignored.isEmpty { parts.append("ignored: \(summary.ignored.joined(separator: ", "))") }
        var counted = summary.counted
        if let orientation = summary.orientation { counted.append(orientation) }
        if !counted.isEmpty { parts.append("counted: \(counted.joined(separator: ", "))") }
        if summary.trailingBytes > 0 { parts.append("\(summary.trailingBytes) bytes after EOI ignored") }
        return Outcome(digest: digest, notes: [parts.joined(separator: "; ")])
    }

    static func fallback(_ bytes: UnsafeBufferPointer<UInt8>, _ format: String, _ reason: String) -> Outcome {
        Outcome(digest: plain(bytes), notes: ["looks like a \(format) but \(reason); keyed on the file's bytes"])
    }

    private static func colourName(_ type: UInt8) -> String {
        switch type {
        case 0: "greyscale"
        case 2: "RGB"
        case 3: "palette"
        case 4: "greyscale+alpha"
        default: "RGBA"
        }
    }

    /// `tEXt, tIME` or `2 × tEXt, tIME`: names in first-seen order with their counts.
    private static func distinctNames(_ names: [String]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for name in names {
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        return order.map { counts[$0]! == 1 ? $0 : "\(counts[$0]!) × \($0)" }.joined(separator: ", ")
    }
}
