extension JPEGCoefficients {
    /// Limits small enough for a fuzzer to try many inputs a second.
    static let fuzzLimits = ImageLimits(maxPixels: 1 << 20, maxDecodedBytes: 8 << 20)

    /// An entry point for a fuzzer: reads `bytes` as a JPEG to its coefficients and traps if an invariant
    /// does not hold (a bad input must only ever be ``Failure`` or a fallback). Prefix the fuzzer's data
    /// with `FF D8` to reach the reader; ``ImageContent`` calls the same code for every JPEG it keys.
    static func fuzz(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { bytes in
            guard let summary = try? JPEGFile.read(bytes) else { return }
            let decoded: JPEGCoefficients
            do {
                decoded = try decode(bytes, records: summary.records, limits: fuzzLimits)
            } catch {
                return
            }
            let blocks = decoded.components.reduce(0) { $0 + $1.storedWidth * $1.storedHeight }
            precondition(decoded.coefficients.count == blocks * 64, "coefficients for every stored block")
            precondition(decoded.width * decoded.height <= fuzzLimits.maxPixels, "the pixel limit holds")
            precondition(decoded.components.allSatisfy { $0.quantisation?.count == 64 && $0.known.allSatisfy { $0 == 0 } })
            precondition(decoded.digest(summary, bytes: bytes) == decoded.digest(summary, bytes: bytes), "one digest")
        }
    }
}
