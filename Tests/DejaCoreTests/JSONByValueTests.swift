import Testing

@testable import DejaCore

/// Issue 3, "JSON by value": spellings that mean the same share a key; anything that differs does not.
@Suite struct JSONByValueTests {
    let policy = TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", defaults: ["fileType": 1])

    func key(_ text: String) throws -> CacheKey {
        try Canonicalizer().canonicalize(body: utf8(text), policy: policy, scope: nil).key
    }

    @Test func escapedMemberNamesAreTheirCharacters() throws {
        #expect(try key(#"{"\u0066ile": "QUJD", "\u0074": "\u00e9\/"}"#) == key("{\"file\": \"QUJD\", \"t\": \"\u{e9}/\"}"))
    }

    @Test func numberSpellingsOfOneValueAreEqualBigNumbersStayExact() throws {
        let same = ["1", "1.0", "1e0", "10E-1", "0.1e1", "100e-2"]
        let keys = try Set(same.map { try key(#"{"file": "QUJD", "n": \#($0)}"#) })
        #expect(keys.count == 1)
        let different = [
            "12345678901234567890123", "12345678901234567890124", "0.1", "0.10000000000000001", "1e400", "1e401",
            "9007199254740993", "9007199254740992", "-0.5", "0.5",
        ]
        let differentKeys = try Set(different.map { try key(#"{"file": "QUJD", "n": \#($0)}"#) })
        #expect(differentKeys.count == different.count)
    }

    @Test func nullAbsentAndDefaultAreTheSameRequest() throws {
        let bare = try key(#"{"file": "QUJD"}"#)
        #expect(try key(#"{"file": "QUJD", "fileType": null}"#) == bare)
        #expect(try key(#"{"file": "QUJD", "fileType": 1.0}"#) == bare)
        #expect(try key(#"{"file": "QUJD", "fileType": 2}"#) != bare)
        #expect(try key(#"{"file": "QUJD", "other": null}"#) == bare)
        #expect(try key(#"{"file": "QUJD", "other": [null]}"#) != bare)
    }

    @Test func duplicateMembersAreRejected() {
        let error = thrownError { _ = try key(#"{"file": "QUJD", "\u0066ile": "QUJE"}"#) }
        #expect(error?.code == .duplicateKey)
        #expect(thrownError { _ = try key(#"{"file": "QUJD", "o": {"a": 1, "a": 1}}"#) }?.code == .duplicateKey)
    }
}
