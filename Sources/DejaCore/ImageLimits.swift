/// Bounds on decoding an image to key it by content: a guard against decompression bombs.
///
/// Checked from the PNG header before anything is inflated or allocated; passing one is
/// ``CanonicalError/Code/imageTooLarge`` naming the field. JPEG files are never decoded to pixels, so
/// these bounds do not apply to them.
public struct ImageLimits: Sendable, Hashable {
    /// Most pixels (width × height) an image may have. Default 64 Mi (67 108 864), e.g. 8192 × 8192.
    public var maxPixels: Int
    /// Most bytes the decoded image may take: the inflated stream (filter bytes included) and the
    /// unfiltered image. Default 256 MiB.
    public var maxDecodedBytes: Int

    /// Creates limits; the defaults are 64 Mi pixels and 256 MiB.
    public init(maxPixels: Int = 64 * 1024 * 1024, maxDecodedBytes: Int = 256 * 1024 * 1024) {
        self.maxPixels = maxPixels
        self.maxDecodedBytes = maxDecodedBytes
    }
}
