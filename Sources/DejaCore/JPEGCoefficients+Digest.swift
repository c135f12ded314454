import Crypto

extension JPEGCoefficients {
    /// The digest of scheme version 5: what the decoder's pixels depend on, never how it was entropy-coded.
    ///
    /// SHA-256 over records of one kind byte, an 8-byte big-endian length and bytes (as
    /// ``JPEGFile/segmentDigest(_:bytes:)``): kind `02`, the frame — ``KeyEncoding`` of the height and
    /// width (2 bytes each), then per component its identifier, sampling factors and latched quantisation
    /// table (64 × 2 bytes, natural order); per component, kind `03` whose length is its number of blocks,
    /// followed by each block that holds image samples, row by row: the count of nonzero coefficients
    /// (1 byte) and, for each in natural order, its index (1 byte) and value (2 bytes, two's complement);
    /// then the file's metadata records (ICC profile, Adobe transform, late EXIF or JFIF) in file order
    /// and the colour facts (kind `00`), exactly as version 4 counts them.
    func digest(_ summary: JPEGFile.Summary, bytes: UnsafeBufferPointer<UInt8>) -> SHA256.Digest {
        var hasher = SHA256()
        var frame: [[UInt8]] = [[UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF)]]
        for component in components {
            var field = [component.identifier, UInt8(component.horizontal), UInt8(component.vertical)]
            for value in component.quantisation ?? [] { field += [UInt8(value >> 8), UInt8(value & 0xFF)] }
            frame.append(field)
        }
        KeyEncoding.encode(fields: frame).withUnsafeBytes { JPEGFile.hash(record: 2, $0, into: &hasher) }
        // Blocks are written into one buffer (a block takes at most 1 + 64 × 3 bytes) hashed when full.
        let capacity = 1 << 16, blockMaximum = 1 + 64 * 3
        var buffer = [UInt8](repeating: 0, count: capacity)
        buffer.withUnsafeMutableBufferPointer { out in
            coefficients.withUnsafeBufferPointer { all in
                var used = 0
                for component in components {
                    JPEGFile.hash(record: 3, length: component.widthInBlocks * component.heightInBlocks, into: &hasher)
                    for row in 0..<component.heightInBlocks {
                        for column in 0..<component.widthInBlocks {
                            if used > capacity - blockMaximum {
                                hasher.update(bufferPointer: UnsafeRawBufferPointer(start: out.baseAddress, count: used))
                                used = 0
                            }
                            let start = component.base + (row * component.storedWidth + column) * 64
                            let countAt = used
                            used += 1
                            for index in 0..<64 {
                                let value = UInt16(bitPattern: all[start + index])
                                if value == 0 { continue }
                                out[used] = UInt8(index)
                                out[used + 1] = UInt8(value >> 8)
                                out[used + 2] = UInt8(value & 0xFF)
                                used += 3
                            }
                            out[countAt] = UInt8((used - countAt - 1) / 3)
                        }
                    }
                }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(start: out.baseAddress, count: used))
            }
        }
        for record in summary.records where !record.isDecoding {
            JPEGFile.hash(record: record.kind, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[record.range]), into: &hasher)
        }
        summary.colourFacts.withUnsafeBytes { JPEGFile.hash(record: 0, $0, into: &hasher) }
        return hasher.finalize()
    }
}
