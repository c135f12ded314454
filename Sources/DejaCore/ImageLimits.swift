/// Bounds on decoding an image to key it by content: a guard against decompression bombs.
///
/// Checked from the PNG header or the JPEG frame header before anything is inflated, decoded or
/// allocated; passing one is ``CanonicalError/Code/imageTooLarge`` naming the field. For a JPEG read to its
/// DCT coefficients, the decoded bytes are the coefficients (2 bytes each, whole MCUs).
public struct ImageLimits: Sendable, Hashable {
    /// Most pixels (width × height) an image may have. Default 64 Mi (67 108 864), e.g. 8192 × 8192.
    public var maxPixels: Int
    /// Most bytes the decoded image may take: a PNG's inflated stream (filter bytes included) and
    /// unfiltered image, a JPEG's DCT coefficients. Default 256 MiB.
    public var maxDecodedBytes: Int

    /// Creates limits; the defaults are 64 Mi pixels and 256 MiB.
    public init(maxPixels: Int = 64 * 1024 * 1024, maxDecodedBytes: Int = 256 * 1024 * 1024) {
        self.maxPixels = maxPixels
        self.maxDecodedBytes = maxDecodedBytes
    }
}
