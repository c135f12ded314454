@testable import DejaServer
import Foundation
import Testing

/// The small parsers the event-loop hit path relies on; its connection logic is tested in
/// HitFastPathStateMachineTests and HitFastPathHandlerTests, the path itself end to end in
/// tests/integration/test_fast_path.py (real sockets, real worker).
@Suite struct FastPathPartsTests {
    @Test(arguments: [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("  Bearer\tabc", "abc"),
        ("Bearer a b", "a b"),
    ])
    func bearerTokensAreRead(_ header: String, _ token: String) {
        #expect(TaskController<DejaRequestContext>.bearerToken(header) == token)
    }

    @Test(arguments: ["", "Bearer", "Bearer   ", "Basic abc", "Bearerabc", "Bearers abc", "abc"])
    func otherAuthorizationHeadersAreNotBearerTokens(_ header: String) {
        #expect(TaskController<DejaRequestContext>.bearerToken(header) == nil)
    }

    @Test func theDateHeaderIsAnIMFFixdate() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(1_796_012_345) == "Mon, 30 Nov 2026 04:19:05 GMT")
        // Agrees with Foundation's formatter for an arbitrary instant.
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let seconds = 1_234_567_890
        #expect(HTTPDate.format(seconds) == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))))
    }
}
