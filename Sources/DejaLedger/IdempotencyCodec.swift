import Foundation

/// How stored responses' headers are kept: a JSON object with sorted keys.
enum IdempotencyCodec {
    static func json(_ headers: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(headers)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func headers(_ json: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
    }
}
