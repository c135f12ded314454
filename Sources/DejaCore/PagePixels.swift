import Crypto

/// What a page looks like to the OCR, whatever file it came in: the identity the page memo keys an
/// image and a rendered PDF page on alike (docs/canonical-form.md §5.7).
///
/// The identity is the SHA-256 of `deja-rgb8`, a zero byte, width and height as big-endian 32-bit
/// numbers, then the rows top to bottom, each pixel as R, G, B bytes — exactly the array OpenCV hands
/// the model (in BGR order) for such a PNG, and what the worker computes from a page it renders
/// (`worker/pdf_input.py`, `pixel_identity`). The gateway reads it only from PNGs whose unfiltered rows
/// are those bytes and nothing else changes what OpenCV decodes: 8-bit RGB, not interlaced, no
/// transparency and no counted ancillary chunk (gamma, colour profile, EXIF orientation, …). For any
/// other image it gives `nil` — no page identity, never a wrong one.
public enum PagePixels {
    /// The identity of a PNG's pixels, or `nil` when the file is not a PNG of that plain kind.
    public static func identity(png bytes: [UInt8], limits: ImageLimits = ImageLimits()) -> CacheKey? {
        bytes.withUnsafeBufferPointer { buffer -> CacheKey? in
            guard PNGFile.isPNG(buffer), let file = try? PNGFile(buffer),
                  file.colourType == 2, file.bitDepth == 8, !file.interlaced,
                  file.transparency == nil, file.palette == nil, file.counted.isEmpty
            else { return nil }
            guard let digest = try? PNGPixels.digest(of: file, bytes: buffer, limits: limits, prefix: prefix(width: file.width, height: file.height))
            else { return nil }
            return CacheKey(digest: digest)
        }
    }

    /// ``identity(png:limits:)`` of a file given as standard base64 (the forward body's spelling).
    public static func identity(base64 text: String, limits: ImageLimits = ImageLimits()) -> CacheKey? {
        var text = text
        guard case .success(let (bytes, _)) = text.withUTF8({ Base64.decode($0) }) else { return nil }
        return identity(png: bytes, limits: limits)
    }

    static func prefix(width: Int, height: Int) -> [UInt8] {
        func be32(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        return Array("deja-rgb8".utf8) + [0] + be32(width) + be32(height)
    }
}
