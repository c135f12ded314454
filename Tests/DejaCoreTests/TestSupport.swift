import DejaCore
import Testing

/// A small seeded generator (SplitMix64) so that randomized tests reproduce.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The UTF-8 bytes of `text`.
func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Runs `body` and returns the error it threw, or `nil`.
func thrownError(_ body: () throws -> Void) -> CanonicalError? {
    do {
        try body()
        return nil
    } catch let error as CanonicalError {
        return error
    } catch {
        Issue.record("expected a CanonicalError, got \(error)")
        return nil
    }
}

/// The error parsing `text` throws, or `nil` when it parses.
func parseError(_ text: String, limits: JSONLimits = JSONLimits()) -> CanonicalError? {
    thrownError { _ = try JSONValue(parsing: utf8(text), limits: limits) }
}

/// Parses `text`, which the test expects to be valid.
func parse(_ text: String) throws -> JSONValue {
    try JSONValue(parsing: utf8(text))
}

/// Canonical bytes of the document `text` as a string.
func canonical(_ text: String) throws -> String {
    String(decoding: try parse(text).canonicalBytes(), as: UTF8.self)
}

extension TaskPolicy {
    /// The member roles of the gateway's `paddlex-ocr` protocol (DejaCore itself names no protocol):
    /// `file` a required binary member, `logId` volatile.
    static func paddleXOCR(
        task: String = "ocr", modelName: String, modelVersion: String, scope: CacheScope = .shared,
        volatileFields: Set<String> = [], defaults: [String: JSONValue] = [:], textNormalization: TextNormalization = .nfc,
        textRule: TextRule? = nil, fieldTextRules: [String: TextRule] = [:], maxTextBytes: Int = TaskPolicy.defaultMaxTextBytes
    ) -> TaskPolicy {
        TaskPolicy(
            task: task, protocolName: "paddlex-ocr", modelName: modelName, modelVersion: modelVersion, scope: scope,
            volatileFields: volatileFields.union(["logId"]), defaults: defaults, binaryFields: ["file"], requiredFields: ["file"],
            textNormalization: textNormalization, textRule: textRule, fieldTextRules: fieldTextRules, maxTextBytes: maxTextBytes
        )
    }
}
