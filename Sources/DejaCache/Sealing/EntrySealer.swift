import Crypto
import DejaCore
import NIOCore

/// Seals what a persistent store keeps, so that the storage alone reveals nothing.
///
/// Each sealed value is AES-256-GCM under a key derived by HKDF-SHA256 (RFC 5869) from the current server
/// secret and info = purpose ‖ the request's ``DejaCore/SealingDigest`` ‖ the storage name the value is
/// kept under (also authenticated data, so a value moved to another name does not open). The secret is
/// 32 or more random bytes, so it serves as HKDF's pseudorandom key and the extract step is skipped
/// (§3.3); one 32-byte output block is one HMAC, whose key schedule is done once per secret. The sealing
/// digest is stored nowhere, so a dump of the store, even with the server secret, opens only the values
/// of requests the reader already has.
///
/// Layout: magic `0xD5`, version `1`, the secret's id (a length byte and its bytes), then AES-GCM's
/// combined form (12-byte nonce, ciphertext, 16-byte tag).
public struct EntrySealer: Sendable {
    public let secrets: SealSecrets

    public init(secrets: SealSecrets) {
        self.secrets = secrets
    }

    static let magic: UInt8 = 0xD5
    static let version: UInt8 = 1

    /// What a sealed value is, so the same request's entry, alias and idempotent answer never share a key.
    public enum Purpose: String, Sendable {
        case entry = "deja-entry-v1"
        case alias = "deja-alias-v1"
        case idempotentAnswer = "deja-idempotent-v1"
    }

    /// `plaintext` sealed under the current secret for `name` (the storage name: a content key or an
    /// alias name) and `sealing`.
    public func seal(_ plaintext: ByteBuffer, name: CacheKey, sealing: SealingDigest, purpose: Purpose) -> ByteBuffer {
        let secret = secrets.current
        let key = Self.derive(secret, name: name, sealing: sealing, purpose: purpose)
        let nameBytes = name.bytes
        // AES-GCM with a fresh random 96-bit nonce and a 256-bit key cannot fail.
        let box = plaintext.withUnsafeReadableBytes { bytes in
            try! AES.GCM.seal(bytes, using: key, authenticating: nameBytes)
        }
        let combined = box.combined!
        var out = ByteBuffer()
        out.reserveCapacity(3 + secret.id.utf8.count + combined.count)
        out.writeInteger(Self.magic)
        out.writeInteger(Self.version)
        out.writeInteger(UInt8(secret.id.utf8.count))
        out.writeString(secret.id)
        out.writeBytes(combined)
        return out
    }

    /// Why a sealed value did not open.
    public enum OpenFailure: Error, Sendable, Equatable {
        /// Not a sealed value (a truncated or foreign value, or one written before sealing).
        case malformed
        /// Sealed with a secret that is no longer configured.
        case unknownSecret
        /// Authentication failed: another request's value, another name, or tampered bytes.
        case rejected
    }

    /// Opens a value written by ``seal(_:name:sealing:purpose:)`` for the same name, digest and purpose.
    public func open(_ sealed: ByteBuffer, name: CacheKey, sealing: SealingDigest, purpose: Purpose) -> Result<ByteBuffer, OpenFailure> {
        var buffer = sealed
        guard buffer.readInteger(as: UInt8.self) == Self.magic, buffer.readInteger(as: UInt8.self) == Self.version,
              let idLength = buffer.readInteger(as: UInt8.self), let id = buffer.readString(length: Int(idLength)),
              buffer.readableBytes >= 12 + 16
        else { return .failure(.malformed) }
        guard let secret = secrets.secret(id: id) else { return .failure(.unknownSecret) }
        let key = Self.derive(secret, name: name, sealing: sealing, purpose: purpose)
        do {
            let box = try buffer.withUnsafeReadableBytes { try AES.GCM.SealedBox(combined: $0) }
            let plaintext = try AES.GCM.open(box, using: key, authenticating: name.bytes)
            return .success(ByteBuffer(bytes: plaintext))
        } catch {
            return .failure(.rejected)
        }
    }

    /// The id of the secret a sealed value names, or `nil` if it is not a sealed value.
    public static func secretID(of sealed: ByteBuffer) -> String? {
        var buffer = sealed
        guard buffer.readInteger(as: UInt8.self) == magic, buffer.readInteger(as: UInt8.self) == version,
              let length = buffer.readInteger(as: UInt8.self)
        else { return nil }
        return buffer.readString(length: Int(length))
    }

    /// HKDF-Expand(PRK = secret, info = purpose ‖ 0 ‖ sealing digest ‖ name, L = 32): T(1) = HMAC(PRK, info ‖ 0x01).
    static func derive(_ secret: SealSecrets.Secret, name: CacheKey, sealing: SealingDigest, purpose: Purpose) -> SymmetricKey {
        var mac = secret.keyedMAC
        var info = [UInt8]()
        info.reserveCapacity(purpose.rawValue.utf8.count + 1 + 32 + 32 + 1)
        info.append(contentsOf: purpose.rawValue.utf8)
        info.append(0)
        info.append(contentsOf: sealing.bytes)
        info.append(contentsOf: name.bytes)
        info.append(1)
        mac.update(data: info)
        return SymmetricKey(data: mac.finalize())
    }
}
