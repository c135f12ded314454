import Crypto
import DejaCore
import Foundation

// Canonicalisation throughput for a 1 MiB PNG, 1 MiB JPEGs (baseline and its lossless progressive
// transcode: both read to DCT coefficients) and a ~1 MiB PDF (pages of text and Flate images, read to its
// page digests) sent as base64, against plain SHA-256 of the same file bytes
// measured in the same run, and the cost of a byte-identical repeat through a
// ContentDigestCache. Reports medians over many runs; asserts nothing.

func median(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

func mbps(_ bytes: Int, _ seconds: Double) -> String { String(format: "%7.1f MB/s", Double(bytes) / seconds / 1e6) }
func ms(_ seconds: Double) -> String { String(format: "%7.2f ms", seconds * 1000) }

func body(_ file: [UInt8]) -> [UInt8] {
    Array(#"{"file": ""#.utf8) + Array(Data(file).base64EncodedString().utf8) + Array(#"", "fileType": 1, "logId": "x"}"#.utf8)
}

/// A photo-like RGB image (smooth gradients plus noise) whose PNG is about 1 MiB.
func makePNG() -> [UInt8] {
    var state: UInt64 = 42
    func noise() -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int(state >> 59)
    }
    var height = 300
    while true {
        let image = TestPNG(width: 800, height: height) { x, y, c in (x / 3 + y / 2 + c * 60 + noise() * 3) & 0xFF }
        let file = image.encode(level: .compressionLevel6, filter: .fixed(4))
        if file.count >= 1 << 20 { return file }
        height = height * (1 << 20) / file.count + 8
    }
}

let policy = TaskPolicy(task: "ocr", protocolName: "paddlex-ocr", modelName: "PP-OCRv4", modelVersion: "bench", volatileFields: ["logId"], binaryFields: ["file"], requiredFields: ["file"])
let runs = 30
var files: [(String, [UInt8])] = [("PNG", makePNG())]
for path in CommandLine.arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let format = url.pathExtension.lowercased() == "pdf" ? "PDF" : "JPEG"
    files.append(("\(format) \(url.deletingPathExtension().lastPathComponent)", Array(try Data(contentsOf: url))))
}
if files.count == 1 {
    print("(no JPEG or PDF given: pass the paths of ~1 MiB JPEGs and PDFs, e.g. from Benchmarks/run.sh)")
}

print("| file | file bytes | SHA-256 of the file | canonicalize (decode + digest) | ratio | repeat via ContentDigestCache p50 | bytes-only body (v1 rules) |")
print("|---|---|---|---|---|---|---|")
for (name, file) in files {
    let request = body(file)
    // Baseline 1: SHA-256 of the file bytes.
    let sha = median(runs) { _ = SHA256.hash(data: file) }
    // The full canonicalisation: parse, base64-decode, read the image, digest.
    let canonicalizer = Canonicalizer()
    let digest = try canonicalizer.canonicalize(body: request, policy: policy, scope: nil).canonicalForm["file"]!.stringValue!
    let full = try median(runs) { _ = try canonicalizer.canonicalize(body: request, policy: policy, scope: nil) }
    // Repeat through a warm cache: parse, decode base64, one SHA-256 for the raw key.
    let cache = InMemoryContentDigestCache()
    let cached = Canonicalizer(contentDigestCache: cache)
    _ = try cached.canonicalize(body: request, policy: policy, scope: nil)
    let repeatTime = try median(runs) { _ = try cached.canonicalize(body: request, policy: policy, scope: nil) }
    // Baseline 2: the same body with bytes that are not an image or a PDF (keyed on the bytes, as in scheme 1).
    var other = file
    other[0] ^= 0xFF
    let otherBody = body(other)
    let plain = try median(runs) { _ = try canonicalizer.canonicalize(body: otherBody, policy: policy, scope: nil) }
    print("| \(name) (\(digest.prefix(while: { $0 != ":" }))) | \(file.count) | \(mbps(file.count, sha)) \(ms(sha)) | \(mbps(file.count, full)) \(ms(full)) | \(String(format: "%.1f", full / sha))× SHA-256 | \(ms(repeatTime)) | \(mbps(file.count, plain)) \(ms(plain)) |")
}
