import Crypto
import Foundation

/// The server secrets that stored answers are sealed with: one current secret that seals new entries,
/// and older ones that still open what they sealed until it expires.
///
/// Written one per line as `<id> <base64 of at least 32 bytes>`; blank lines and lines starting with
/// `#` are ignored, and `,` also separates entries (for an environment variable). The first entry is
/// the current one. Ids are 1–16 characters from `A–Z a–z 0–9 . _ -` and name the secret inside each
/// sealed entry, so a rotation adds a new first line and keeps the old one until the longest
/// retention has passed; an entry whose secret is no longer listed is a miss, never an error.
public struct SealSecrets: Sendable {
    /// One secret and the id stored with what it seals.
    public struct Secret: Sendable {
        public let id: String
        /// HMAC-SHA256 keyed with the secret, its key schedule done once: each entry's key is this MAC
        /// (copied) over the entry's info (HKDF-Expand, RFC 5869 §2.3).
        let keyedMAC: HMAC<SHA256>

        init(id: String, key: SymmetricKey) {
            self.id = id
            self.keyedMAC = HMAC<SHA256>(key: key)
        }
    }

    /// Seals every new entry.
    public let current: Secret
    private let byID: [String: Secret]

    /// The secret with `id`, if it is still configured.
    public func secret(id: String) -> Secret? { byID[id] }

    /// Every configured id, current first.
    public let ids: [String]

    /// Parses the text of a secrets file or variable. Throws ``SealSecretsError`` naming the line (never
    /// the secret) when an entry is malformed, too short, repeated, or when there is none.
    public init(parsing text: String) throws(SealSecretsError) {
        var secrets: [Secret] = []
        // Comments are whole lines; `,` separates entries within a line (an environment variable).
        let entries = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            .flatMap { $0.split(separator: ",") }
        for (index, raw) in entries.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2 else {
                throw SealSecretsError("entry \(index + 1) is not '<id> <base64 secret>'")
            }
            let id = String(parts[0])
            guard (1...16).contains(id.utf8.count), id.utf8.allSatisfy(Self.isIDByte) else {
                throw SealSecretsError("entry \(index + 1): the id must be 1–16 characters from A–Z a–z 0–9 . _ -")
            }
            guard let bytes = Data(base64Encoded: String(parts[1])), bytes.count >= 32 else {
                throw SealSecretsError("entry \(index + 1) ('\(id)'): the secret must be base64 of at least 32 bytes (e.g. `openssl rand -base64 32`)")
            }
            guard !secrets.contains(where: { $0.id == id }) else {
                throw SealSecretsError("entry \(index + 1): the id '\(id)' is used twice")
            }
            secrets.append(Secret(id: id, key: SymmetricKey(data: bytes)))
        }
        guard let first = secrets.first else { throw SealSecretsError("no secret is given") }
        current = first
        ids = secrets.map(\.id)
        byID = Dictionary(uniqueKeysWithValues: secrets.map { ($0.id, $0) })
    }

    /// A new secrets text with one random 32-byte secret named `id`.
    public static func generate(id: String = "s1") -> String {
        let key = SymmetricKey(size: .bits256)
        let base64 = key.withUnsafeBytes { Data($0).base64EncodedString() }
        return "\(id) \(base64)\n"
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}

/// A secrets file or variable that cannot be used; the message names the entry, never its secret.
public struct SealSecretsError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { "seal secrets: \(message)" }
}
