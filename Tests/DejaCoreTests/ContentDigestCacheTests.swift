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

    @Test func theCacheIsTrustedAndConsultedOnlyForImages() throws {
        let cache = InMemoryContentDigestCache()
        let png = gradientImage().encode()
        let planted = ContentDigest(kind: .pngPixels, digest: CacheKey(bytes: [UInt8](repeating: 7, count: 32))!)
        cache.remember(raw: ContentDigest.rawKey(of: png), content: planted)
        #expect(try fileDigest(png, canonicalizer: Canonicalizer(contentDigestCache: cache)) == planted.description)
        _ = try canonicalizeFile(utf8("GIF89a"), canonicalizer: Canonicalizer(contentDigestCache: cache))
        #expect(cache.statistics.lookups == 1)
        #expect(cache.count == 1)
    }

    @Test func rawKeysAreVersionedAndDifferFromTheByteDigest() {
        let bytes = utf8("abc")
        #expect(ContentDigest.rawKey(of: bytes) != ContentDigest.rawKey(of: utf8("abd")))
        #expect("sha256:" + ContentDigest.rawKey(of: bytes).hex != plainDigest(bytes))
        #expect(CanonicalScheme.contentTag == "deja-content-v4")
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
