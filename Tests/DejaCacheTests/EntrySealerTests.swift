@testable import DejaCache
import Crypto
import DejaCore
import Foundation
import NIOCore
import Testing

@Suite struct EntrySealerTests {
    static func secrets(_ lines: String...) throws -> SealSecrets {
        try SealSecrets(parsing: lines.joined(separator: "\n"))
    }

    /// A fixed secret line per id, so a test can configure the same secret twice.
    static func line(_ id: String, _ byte: UInt8) -> String {
        "\(id) \(Data(repeating: byte, count: 32).base64EncodedString())"
    }

    let name = Fixture.key(1)
    let sealing = SealingDigest(Fixture.key(2))
    let plaintext = ByteBuffer(string: #"{"rec_texts":["身份证号 11010519491231002X"]}"#)

    @Test func aSealedValueOpensWithItsNameAndDigestOnly() throws {
        let sealer = EntrySealer(secrets: try Self.secrets(Self.line("a", 1)))
        let sealed = sealer.seal(plaintext, name: name, sealing: sealing, purpose: .entry)
        #expect(sealer.open(sealed, name: name, sealing: sealing, purpose: .entry) == .success(plaintext))
        // The storage name alone is not enough, nor is the value moved under another name or purpose.
        #expect(sealer.open(sealed, name: name, sealing: SealingDigest(Fixture.key(3)), purpose: .entry) == .failure(.rejected))
        #expect(sealer.open(sealed, name: Fixture.key(4), sealing: sealing, purpose: .entry) == .failure(.rejected))
        #expect(sealer.open(sealed, name: name, sealing: sealing, purpose: .idempotentAnswer) == .failure(.rejected))
        // Nothing of the plaintext is visible, and two seals of the same value differ (fresh nonces).
        let bytes = Array(buffer: sealed)
        #expect(!bytes.containsSubsequence(Array("11010519491231002X".utf8)))
        #expect(sealer.seal(plaintext, name: name, sealing: sealing, purpose: .entry) != sealed)
    }

    @Test func theEntryKeyIsHKDFExpandOfTheSecret() throws {
        let secrets = try Self.secrets(Self.line("a", 7))
        let derived = EntrySealer.derive(secrets.current, name: name, sealing: sealing, purpose: .entry)
        let info = Array("deja-entry-v1".utf8) + [0] + sealing.bytes + name.bytes
        let expected = HKDF<SHA256>.expand(
            pseudoRandomKey: SymmetricKey(data: Data(repeating: 7, count: 32)), info: info, outputByteCount: 32)
        #expect(derived == expected)
        #expect(EntrySealer.derive(secrets.current, name: name, sealing: sealing, purpose: .alias) != expected)
    }

    @Test func aFlippedBitIsRejected() throws {
        let sealer = EntrySealer(secrets: try Self.secrets(Self.line("a", 1)))
        var bytes = Array(buffer: sealer.seal(plaintext, name: name, sealing: sealing, purpose: .entry))
        bytes[bytes.count - 20] ^= 0x01
        #expect(sealer.open(ByteBuffer(bytes: bytes), name: name, sealing: sealing, purpose: .entry) == .failure(.rejected))
        #expect(sealer.open(ByteBuffer(string: "plain"), name: name, sealing: sealing, purpose: .entry) == .failure(.malformed))
    }

    @Test func rotationOpensOldEntriesUntilTheirSecretIsRemoved() throws {
        let old = EntrySealer(secrets: try Self.secrets(Self.line("a", 1)))
        let sealedByA = old.seal(plaintext, name: name, sealing: sealing, purpose: .entry)
        let rotated = EntrySealer(secrets: try Self.secrets(Self.line("b", 2), Self.line("a", 1)))
        #expect(rotated.open(sealedByA, name: name, sealing: sealing, purpose: .entry) == .success(plaintext))
        let sealedByB = rotated.seal(plaintext, name: name, sealing: sealing, purpose: .entry)
        #expect(EntrySealer.secretID(of: sealedByB) == "b")
        #expect(old.open(sealedByB, name: name, sealing: sealing, purpose: .entry) == .failure(.unknownSecret))
        let retired = EntrySealer(secrets: try Self.secrets(Self.line("b", 2)))
        #expect(retired.open(sealedByA, name: name, sealing: sealing, purpose: .entry) == .failure(.unknownSecret))
        #expect(retired.open(sealedByB, name: name, sealing: sealing, purpose: .entry) == .success(plaintext))
        // The same id with another secret does not open it either.
        let replaced = EntrySealer(secrets: try Self.secrets(Self.line("a", 9)))
        #expect(replaced.open(sealedByA, name: name, sealing: sealing, purpose: .entry) == .failure(.rejected))
    }

    @Test func secretsAreParsedStrictlyAndNeverEchoed() throws {
        let parsed = try SealSecrets(parsing: "# rotated 2026-12, old kept a day\n\n" + Self.line("new", 3) + "," + Self.line("old", 4) + "\n")
        #expect(parsed.current.id == "new")
        #expect(parsed.ids == ["new", "old"])
        let short = "s1 " + Data(repeating: 1, count: 16).base64EncodedString()
        for bad in ["", "# only a comment", short, "s1", "bad id! " + Data(count: 32).base64EncodedString(),
                    Self.line("x", 1) + "\n" + Self.line("x", 2), "s1 not-base64!!"] {
            let error = #expect(throws: SealSecretsError.self) { try SealSecrets(parsing: bad) }
            #expect(!(error?.description.contains(Data(repeating: 1, count: 16).base64EncodedString()) ?? true))
        }
        #expect(try SealSecrets(parsing: SealSecrets.generate(id: "k7")).current.id == "k7")
    }
}

@Suite struct SealedSQLiteStoreTests {
    let clock = ManualClock()

    @Test func theFileHoldsNoAnswerAndRotationSurvivesARestart() async throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        do {
            let folder = directory.path
            let path = folder + "/cache.sqlite"
            let marker = "ANSWER-TEXT-4d9f"
            var entry = Fixture.entry(now: clock.now)
            entry.body = ByteBuffer(string: String(repeating: marker, count: 8))
            let a = EntrySealer(secrets: try EntrySealerTests.secrets(EntrySealerTests.line("a", 1)))
            let first = try await SQLiteStore.open(path: path, sealer: a, clock: clock.wallClock)
            try await first.put(Fixture.key(1), entry, sealing: .testing)
            #expect(try await first.get(Fixture.key(1), sealing: .testing) == entry)
            // Without the request's digest the entry is a miss, not an error.
            #expect(try await first.get(Fixture.key(1), sealing: SealingDigest(Fixture.key(5))) == nil)
            try await first.close()
            for file in try FileManager.default.contentsOfDirectory(atPath: folder) {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file)))
                #expect(!bytes.containsSubsequence(Array(marker.utf8)), "\(file) holds the answer in clear")
            }

            let rotated = EntrySealer(secrets: try EntrySealerTests.secrets(EntrySealerTests.line("b", 2), EntrySealerTests.line("a", 1)))
            let second = try await SQLiteStore.open(path: path, sealer: rotated, clock: clock.wallClock)
            #expect(try await second.get(Fixture.key(1), sealing: .testing) == entry)
            try await second.put(Fixture.key(2), entry, sealing: .testing)
            try await second.close()

            let retired = EntrySealer(secrets: try EntrySealerTests.secrets(EntrySealerTests.line("b", 2)))
            let third = try await SQLiteStore.open(path: path, sealer: retired, clock: clock.wallClock)
            #expect(try await third.get(Fixture.key(1), sealing: .testing) == nil)  // its secret is gone: a miss
            #expect(try await third.get(Fixture.key(2), sealing: .testing) == entry)
            try await third.put(Fixture.key(1), entry, sealing: .testing)  // the next answer takes its place
            #expect(try await third.get(Fixture.key(1), sealing: .testing) == entry)
            try await third.close()
        }
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if self[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }
}
