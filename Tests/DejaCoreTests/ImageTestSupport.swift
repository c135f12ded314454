import Foundation
import Testing

@testable import DejaCore

/// Canonicalises `{"file": <base64 of bytes>}` under the PaddleX OCR policy.
func canonicalizeFile(
    _ bytes: [UInt8],
    canonicalizer: Canonicalizer = Canonicalizer()
) throws -> CanonicalRequest {
    let body = #"{"file": ""# + Data(bytes).base64EncodedString() + #""}"#
    return try canonicalizer.canonicalize(body: utf8(body), policy: imagePolicy, scope: nil)
}

let imagePolicy = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "4.0.0")

/// The canonical value of `file` for `bytes` (`png-pixels-sha256:…`, `jpeg-dct-sha256:…`, `jpeg-scan-sha256:…`,
/// `sha256:…`).
func fileDigest(_ bytes: [UInt8], canonicalizer: Canonicalizer = Canonicalizer()) throws -> String {
    try #require(try canonicalizeFile(bytes, canonicalizer: canonicalizer).canonicalForm["file"]?.stringValue)
}

/// `sha256:<hex>` of the bytes as they are.
func plainDigest(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBufferPointer { ImageContent.plain($0).description }
}

/// The bytes of a file in Tests/DejaCoreTests/Fixtures.
func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return Array(try Data(contentsOf: url))
}

/// `jpeg` with a segment `FF <marker> <length> <payload>` inserted after `afterSegments` segments
/// following SOI (0: right after SOI).
func insertingSegment(_ marker: UInt8, _ payload: [UInt8], into jpeg: [UInt8], afterSegments: Int = 0) -> [UInt8] {
    var position = 2
    for _ in 0..<afterSegments {
        position += 2 + (Int(jpeg[position + 2]) << 8 | Int(jpeg[position + 3]))
    }
    let length = payload.count + 2
    let segment = [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    return Array(jpeg[..<position]) + segment + Array(jpeg[position...])
}

/// A 40×30 RGB test image with a gradient and some structure.
func gradientImage(width: Int = 40, height: Int = 30) -> TestPNG {
    TestPNG(width: width, height: height) { x, y, c in
        c == 0 ? x * 6 : c == 1 ? y * 8 : (x * y) % 251
    }
}
