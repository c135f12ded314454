import Testing

@testable import DejaCore

/// E-mail addresses: what counts as one and how it is masked.
@Suite struct SensitiveEmailTests {
    @Test func addressesAreFoundAndMasked() {
        #expect(SensitiveScanner.matches(in: "联系邮箱：zhang.san@example.com。") == [
            SensitiveMatch(kind: .email, text: "zhang.san@example.com", masked: "z********@example.com")
        ])
        #expect(found("mailto:user+tag@mail.sub-domain.example.co") == ["user+tag@mail.sub-domain.example.co"])
        #expect(found("x@y.cn, a_b-c@d.org") == ["x@y.cn", "a_b-c@d.org"])
        #expect(found("<o'neil!#$%&*/=?^`{|}~@example.com>") == ["o'neil!#$%&*/=?^`{|}~@example.com"])
        #expect(found("Send to a@b.com.") == ["a@b.com"])
        #expect(SensitiveScanner.matches(in: "x@y.cn").map(\.masked) == ["x@y.cn"])
    }

    @Test func malformedAddressesAreNot() {
        for text in [
            "a..b@example.com", ".a@example.com", "a.@example.com", "@example.com", "中文@example.com",
            "a@example", "a@example.c", "a@example.c0m", "a@example.123", "a@-example.com", "a@example-.com",
            "a@exa..mple.com", "a@.example.com", "a@" + String(repeating: "x", count: 64) + ".com", "a@b_c.com",
            "a@example.com1", "a@@example.com",
        ] {
            #expect(found(text).isEmpty, "\(text)")
        }
        #expect(found("a@" + String(repeating: "x", count: 63) + ".com").count == 1)
    }

    private func found(_ text: String) -> [String] {
        SensitiveScanner.matches(in: text, kinds: [.email]).map(\.text)
    }
}
