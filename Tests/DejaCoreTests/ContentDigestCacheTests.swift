import Foundation
import Testing

@testable import DejaCore

@Suite struct ContentDigestCacheTests {
    @Test func aByteIdenticalRepeatIsNotDecodedAgain() throws {
        let cache = InMemoryContentDigestCache()
        let canonicalizer = Canonicalizer(contentDigestCache: cache)
        let png = gradientImage().encode(before: [("tEXt", utf8("a\0b"))])
        let first = try canonicalizeFile(png, canonicalizer: canonicalizer)
        let second = try canonicalizeFile(png, canonicalizer: canonicalizer)
        #expect(first.key == second.key)
        #expect(first.key == (try canonicalizeFile(png)).key)
        #expect(first.notes.first?.hasPrefix("file: PNG 40×30") == true)
        #expect(second.notes == ["file: PNG content digest reused: these exact bytes were read before"])
        #expect(cache.count == 1)
        #expect(cache.statistics == (lookups: 2, hits: 1))
        // Same pixels, other bytes: decoded, remembered separately, same key.
        let other = try canonicalizeFile(gradientImage().encode(level: .bestCompression), canonicalizer: canonicalizer)
        #expect(other.key == first.key)
        #expect(cache.count == 2)
    }

    @Test func aFileIsRememberedPerScopeSoNoTenantCanTimeAnothersFiles() throws {
        let cache = InMemoryContentDigestCache()
        let canonicalizer = Canonicalizer(contentDigestCache: cache)
        let policy = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "4.0.0", scope: .tenant)
        let body = utf8(#"{"file": ""# + Data(gradientImage().encode()).base64EncodedString() + #""}"#)
        let first = try canonicalizer.canonicalize(body: body, policy: policy, scope: "acme")
        let other = try canonicalizer.canonicalize(body: body, policy: policy, scope: "globex")
        // Decoded for each tenant (no "reused" note, two entries), reused only within one.
        #expect(!other.notes.contains { $0.contains("reused") })
        #expect(cache.count == 2)
        let again = try canonicalizer.canonicalize(body: body, policy: policy, scope: "acme")
        #expect(again.notes.contains { $0.contains("reused") })
        #expect(again.key == first.key && other.key != first.key)
    }

    @Test func theCacheIsTrustedAndConsultedOnlyForImages() throws {
        let cache = InMemoryContentDigestCache()
        let png = gradientImage().encode()
        let planted = ContentDigest(kind: .pngPixels, digest: CacheKey(bytes: [UInt8](repeating: 7, count: 32))!)
        cache.remember(raw: ContentDigest.rawKey(of: png, scope: "shared"), content: planted)
        #expect(try fileDigest(png, canonicalizer: Canonicalizer(contentDigestCache: cache)) == planted.description)
        _ = try canonicalizeFile(utf8("GIF89a"), canonicalizer: Canonicalizer(contentDigestCache: cache))
        #expect(cache.statistics.lookups == 1)
        #expect(cache.count == 1)
    }

    @Test func rawKeysAreVersionedAndDifferFromTheByteDigest() {
        let bytes = utf8("abc")
        #expect(ContentDigest.rawKey(of: bytes, scope: "shared") != ContentDigest.rawKey(of: utf8("abd"), scope: "shared"))
        #expect("sha256:" + ContentDigest.rawKey(of: bytes, scope: "shared").hex != plainDigest(bytes))
        #expect(CanonicalScheme.contentTag == "deja-content-v6")
    }

    @Test func theInMemoryCacheIsBounded() {
        let cache = InMemoryContentDigestCache(capacity: 3)
        for index in 0..<10 {
            let key = CacheKey(bytes: [UInt8](repeating: UInt8(index), count: 32))!
            cache.remember(raw: key, content: ContentDigest(kind: .bytes, digest: key))
        }
        #expect(cache.count <= 3)
    }
}
