// The first byte of each input selects a reader; the rest is its input. Every reader must return — a
// value, a fallback or a typed error — and never trap, hang or allocate without bound.
@testable import DejaCore

private let limits = ImageLimits(maxPixels: 1 << 22, maxDecodedBytes: 64 << 20)
private let policy = TaskPolicy(task: "ocr", protocolName: "paddlex-ocr", modelName: "fuzz", modelVersion: "1", volatileFields: ["logId"], defaults: ["fileType": 1], binaryFields: ["file"], requiredFields: ["file"])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: start, count: count)
    let data = UnsafeBufferPointer(rebasing: input[1...])
    switch input[0] % 6 {
    case 0:
        _ = try? JSONValue(parsing: data)
        _ = try? Canonicalizer(imageLimits: limits).canonicalize(body: data, policy: policy, scope: nil)
    case 1:
        if case .success(let (bytes, _)) = Base64.decode(data) {
            let again = Array(Base64.encode(bytes).utf8)
            guard case .success(let (roundTrip, _)) = again.withUnsafeBufferPointer({ Base64.decode($0) }), roundTrip == bytes else {
                fatalError("base64 round trip failed")
            }
        }
    case 2:
        digest(PNGFile.signature + Array(data))
    case 3:
        // The same, with every chunk's CRC repaired so that mutations reach the inflater and unfilter.
        digest(repairingCRCs(PNGFile.signature + Array(data)))
    case 4:
        digest([0xFF, 0xD8] + Array(data))
    default:
        _ = EXIFOrientation.read(data)
    }
    return 0
}

private func digest(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
        if case .success(let outcome) = Result(catching: { () throws(ImageContent.TooLarge) in
            try ImageContent.digest(of: buffer, limits: limits, cache: nil)
        }), outcome.digest.kind == .bytes, outcome.digest != ImageContent.plain(buffer) {
            fatalError("a fallback digest is not the digest of the bytes")
        }
    }
}

private func repairingCRCs(_ png: [UInt8]) -> [UInt8] {
    var out = png
    var position = 8
    while out.count - position >= 12 {
        let length = Int(out[position]) << 24 | Int(out[position + 1]) << 16 | Int(out[position + 2]) << 8 | Int(out[position + 3])
        guard length <= out.count - position - 12 else { break }
        let crc = out.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[position + 4..<position + 8 + length])) }
        for k in 0..<4 { out[position + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> UInt32(24 - 8 * k)) }
        position += 12 + length
    }
    return out
}
