import Crypto

/// API key secrets and ids: generation and hashing.
enum APISecret {
    /// Prefix of every secret, so leaked secrets are recognisable.
    static let prefix = "dk_"

    /// A new secret: `dk_` followed by 32 random bytes in unpadded base64url (43 characters).
    static func generate() -> String {
        prefix + base64URL(RandomID.bytes(32))
    }

    /// A new key id: `key_` followed by 12 lowercase hex digits.
    static func generateKeyID() -> String {
        "key_" + RandomID.hex(12)
    }

    /// The SHA-256 digest of `secret`'s UTF-8 bytes; what the ledger stores.
    static func hash(_ secret: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(secret.utf8)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let b0 = UInt32(bytes[index])
            let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
            let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
            let group = b0 << 16 | b1 << 8 | b2
            let available = min(3, bytes.count - index) + 1
            for position in 0..<available {
                out.append(alphabet[Int((group >> UInt32(18 - 6 * position)) & 0x3f)])
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
