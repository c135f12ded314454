import DejaCache
import Foundation
import Logging

/// The embedded deployment's folder: readable by the gateway's user only.
///
/// The folder is made (or changed to) mode 0700 and every file Deja keeps there is created, or changed
/// to, 0600 before SQLite opens it; SQLite gives a database's `-wal` and `-shm` files its mode.
public enum StorageFolder {
    /// The files Deja keeps in the folder.
    static let files = ["cache.sqlite", "ledger.sqlite", sealSecretsFile]
    /// The seal secrets an embedded gateway made for itself.
    static let sealSecretsFile = "seal.secrets"

    /// Creates `path` if missing and restricts it and the files Deja keeps in it to the owner.
    public static func prepare(_ path: String) throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        } catch {
            throw ConfigurationError("storage.path '\(path)' cannot be created or restricted to its owner: \(error.localizedDescription)")
        }
        let names = (try? manager.contentsOfDirectory(atPath: path)) ?? []
        for name in names where files.contains(where: { name == $0 || name.hasPrefix($0 + "-") }) {
            try? manager.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path + "/" + name)
        }
    }

    /// Creates the file at `path` empty with mode 0600 when missing, so whatever opens it next finds it
    /// private (an empty file is an empty SQLite database).
    static func createPrivately(_ path: String) {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
    }

    /// The seal secrets to use: the configured ones; else, for an embedded gateway, `seal.secrets` in the
    /// folder (made with one random secret on first start). A gateway sharing a cache or ledger with
    /// others must be given the secrets they share.
    /// With `create` false (a reader such as `deja explain`), a missing file means no secrets: `nil`.
    public static func sealSecrets(configuration: DejaConfiguration, logger: Logger) throws -> SealSecrets {
        // An embedded gateway's own file is made when missing.
        try sealSecrets(configuration: configuration, create: true, logger: logger)!
    }

    public static func sealSecrets(configuration: DejaConfiguration, create: Bool, logger: Logger) throws -> SealSecrets? {
        if let text = configuration.sealSecrets {
            do { return try SealSecrets(parsing: text) } catch { throw ConfigurationError("\(error)") }
        }
        guard configuration.storage.cache == nil, configuration.storage.ledger == nil else {
            throw ConfigurationError(
                "a shared cache or ledger (storage.cache, storage.ledger) needs the seal secrets every instance shares: set DEJA_SEAL_SECRETS_FILE to a file of '<id> <base64 of 32 random bytes>' lines (e.g. `echo \"s1 $(openssl rand -base64 32)\" > seal.secrets; chmod 600 seal.secrets`), the same on every instance")
        }
        let path = configuration.storage.path + "/" + sealSecretsFile
        guard create || FileManager.default.fileExists(atPath: path) else { return nil }
        try prepare(configuration.storage.path)
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else { throw ConfigurationError("cannot read '\(path)'") }
            do { return try SealSecrets(parsing: String(decoding: data, as: UTF8.self)) } catch { throw ConfigurationError("'\(path)': \(error)") }
        }
        let text = SealSecrets.generate()
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot create '\(path)'")
        }
        logger.notice("made seal secrets for stored answers", metadata: ["deja.secrets": "\(path)"])
        return try! SealSecrets(parsing: text)
    }

    /// What in the configuration file at `path` is a secret (an admin token, a password in a URL),
    /// when the file can be read by users other than its owner; empty otherwise.
    public static func exposedSecrets(configurationFile path: String) -> [String] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0,
              let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) })
        else { return [] }
        var found: [String] = []
        if text.range(of: #"(?m)^\s*"?adminToken"?\s*:"#, options: .regularExpression) != nil { found.append("adminToken") }
        // A URL with a password: scheme://user:password@host
        if text.range(of: #"[a-z+-]+://[^\s/:@"']*:[^\s/@"']+@"#, options: .regularExpression) != nil { found.append("a password in a URL") }
        return found
    }
}
