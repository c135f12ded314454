import DejaCore
import Foundation

// Text normalisation cost by input size: the whole-string Foundation calls Deja used before (quadratic on
// Linux) against TextRule.apply (piece by piece), each as a ratio to a baseline measured in the same run:
// Foundation's NFC over the same number of bytes of text it leaves unchanged (é, already composed).
// Reports numbers; asserts nothing.
//   cd Benchmarks && swift run -c release DejaTextBench          (scripts/bench-text.sh)
//   OLD_MAX_BYTES=262144 ... skips the old path above that size (it takes seconds per MiB squared).

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ runs: Int, _ body: () -> Void) -> Double {
    (0..<runs).map { _ in seconds(body) }.sorted()[runs / 2]
}

/// The text pipeline as it was: Foundation on the whole string.
func wholeString(_ rule: TextRule, _ string: String) -> String {
    func form(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        switch rule.form {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .none: return text
        }
    }
    var text = form(string)
    if rule.foldsCase {
        text = text.utf8.allSatisfy({ $0 < 0x80 }) ? text.lowercased() : form(text.folding(options: [.caseInsensitive], locale: nil))
    }
    return text
}

let inputs: [(name: String, unit: String, rule: TextRule)] = [
    ("U+0958, NFC", "\u{0958}", .nfc),
    ("U+FDFA, NFKC", "\u{FDFA}", TextRule(form: .nfkc)),
    ("U+1E9B U+0323, NFC", "\u{1E9B}\u{0323}", .nfc),
    ("U+1E9B U+0323, NFKC", "\u{1E9B}\u{0323}", TextRule(form: .nfkc)),
    ("Hangul jamo L V T, NFC", "\u{1100}\u{1161}\u{11A8}", .nfc),
    ("Hangul syllables, NFKC", "\u{D55C}\u{AD6D}\u{C5B4}", TextRule(form: .nfkc)),
    ("a + 30 marks (0301 0316 ...), NFC", "a" + String(repeating: "\u{0301}\u{0316}", count: 15), .nfc),
    ("ASCII + U+0958 mixed, NFC", "abc \u{0958}", .nfc),
    ("Straße İ ﬃ, NFC + casefold", "Stra\u{DF}e \u{130} \u{FB03} ", TextRule(foldCase: true)),
    ("e + U+0301, NFKC + casefold", "E\u{0301}", TextRule(form: .nfkc, foldCase: true)),
]
let sizes = [64 << 10, 256 << 10, 1 << 20, 2 << 20]
let oldMax = Int(ProcessInfo.processInfo.environment["OLD_MAX_BYTES"] ?? "") ?? (2 << 20)

print("| input | bytes | baseline (Foundation NFC, unchanged text) | old: whole string | new: TextRule.apply | old ÷ baseline | new ÷ baseline | same output |")
print("|---|---|---|---|---|---|---|---|")
for (name, unit, rule) in inputs {
    for size in sizes {
        let text = String(repeating: unit, count: max(1, size / unit.utf8.count))
        let unchanged = String(repeating: "\u{E9}", count: text.utf8.count / 2)
        let baseline = median(3) { _ = unchanged.precomposedStringWithCanonicalMapping }
        var newResult = ""
        let new = median(3) { newResult = rule.apply(to: text) }
        var oldText = "skipped", oldRatio = "–", same = "–"
        if text.utf8.count <= oldMax {
            var oldResult = ""
            let old = seconds { oldResult = wholeString(rule, text) }
            oldText = String(format: "%.3f s", old)
            oldRatio = String(format: "%.0f×", old / baseline)
            same = oldResult.utf8.elementsEqual(newResult.utf8) ? "yes" : "NO"
        }
        print("| \(name) | \(text.utf8.count) | \(String(format: "%.4f s", baseline)) | \(oldText) | \(String(format: "%.4f s", new)) | \(oldRatio) | \(String(format: "%.1f×", new / baseline)) | \(same) |")
    }
}
