import DejaGateway
import Testing

@Suite struct CacheControlTests {
    @Test func parsesTheDirectivesDejaHonours() {
        #expect(CacheControl(header: nil) == CacheControl())
        #expect(CacheControl(header: "no-cache") == CacheControl(noCache: true))
        #expect(CacheControl(header: "No-Store") == CacheControl(noStore: true))
        #expect(CacheControl(header: "max-age=30, no-cache") == CacheControl(noCache: true, maxAge: 30))
        #expect(CacheControl(header: " max-age = 5") == CacheControl())  // not a valid directive spelling
        #expect(CacheControl(header: "max-age=\"12\"") == CacheControl(maxAge: 12))
    }

    @Test func ignoresUnknownAndMalformedDirectives() {
        #expect(CacheControl(header: "private, foo=bar, max-age=-1, max-age=abc") == CacheControl())
        #expect(CacheControl(header: ",,,") == CacheControl())
    }

    @Test func cachedAnswersAreAllowedOnlyWithoutNoCacheOrNoStore() {
        #expect(CacheControl().allowsCachedAnswer)
        #expect(CacheControl(maxAge: 0).allowsCachedAnswer)
        #expect(!CacheControl(noCache: true).allowsCachedAnswer)
        #expect(!CacheControl(noStore: true).allowsCachedAnswer)
    }
}
