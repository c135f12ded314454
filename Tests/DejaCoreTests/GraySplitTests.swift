import DejaCore
import Foundation
import Testing

/// A gray release's split: by content, independent of the model version, spread evenly; and the
/// candidate's key for the same request.
@Suite struct GraySplitTests {
    let policy = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "v1")

    func request(_ text: String, extra: String = "", policy: TaskPolicy? = nil) throws -> CanonicalRequest {
        let base64 = Data(text.utf8).base64EncodedString()
        return try Canonicalizer().canonicalize(
            body: Array(#"{"file": "\#(base64)"\#(extra)}"#.utf8), policy: policy ?? self.policy, scope: nil)
    }

    @Test func theSameContentFallsAtTheSamePlaceWhateverTheVersionAndSpelling() throws {
        let first = GraySplit.unit(of: try request("invoice 1"), policy: policy)
        // Spelled differently (a volatile id), and canonicalised under another model version.
        let again = GraySplit.unit(of: try request("invoice 1", extra: #", "logId": "x""#), policy: policy)
        let candidate = policy.withModelVersion("v2")
        let underCandidate = GraySplit.unit(of: try request("invoice 1", policy: candidate), policy: candidate)
        #expect(first == again)
        #expect(first == underCandidate)
        #expect(first != GraySplit.unit(of: try request("invoice 2"), policy: policy))
        #expect((0..<1).contains(first))
    }

    @Test func aFractionOfAFixedSetOfDocumentsIsNearThatFraction() throws {
        // 2,000 fixed documents: the count is the same on every run; uniformity puts it near 25 %.
        let units = try (0..<2_000).map { GraySplit.unit(of: try request("document \($0)"), policy: policy) }
        let below = units.filter { $0 < 0.25 }.count
        #expect((400...600).contains(below), "\(below) of 2000 below 0.25")
        #expect(units.allSatisfy { (0..<1).contains($0) })
    }

    @Test func theCandidateKeyIsTheKeyOfTheRequestUnderTheCandidateVersion() throws {
        let stable = try request("invoice 1")
        let candidatePolicy = policy.withModelVersion("v2")
        let rekeyed = stable.rekeyed(for: candidatePolicy)
        let direct = try request("invoice 1", policy: candidatePolicy)
        #expect(rekeyed.key == direct.key)
        #expect(rekeyed.sealing == direct.sealing)
        #expect(rekeyed.key != stable.key)
        #expect(rekeyed.forwardBody == stable.forwardBody)
        #expect(candidatePolicy.configHash == policy.configHash)
    }

    @Test func theFirstDifferenceNamesAPathAndNoValue() throws {
        let a = try JSONValue(parsing: Array(#"{"pages":[{"texts":["secret 123","b"],"boxes":[[1,2]]}],"n":1}"#.utf8))
        let reordered = try JSONValue(parsing: Array(#"{"n":1.0,"pages":[{"boxes":[[1,2]],"texts":["secret 123","b"]}]}"#.utf8))
        #expect(a.firstDifference(from: reordered) == nil)
        let fewer = try JSONValue(parsing: Array(#"{"pages":[{"texts":["secret 123"],"boxes":[[1,2]]}],"n":1}"#.utf8))
        #expect(a.firstDifference(from: fewer) == "$.pages[0].texts: length 2 vs 1")
        let changed = try JSONValue(parsing: Array(#"{"pages":[{"texts":["secret 124","b"],"boxes":[[1,2]]}],"n":1}"#.utf8))
        let difference = try #require(a.firstDifference(from: changed))
        #expect(difference == "$.pages[0].texts[0]: strings differ")
        #expect(!difference.contains("secret"))
        let moved = try JSONValue(parsing: Array(#"{"pages":[{"texts":["secret 123","b"],"boxes":[[1,3]]}],"n":1}"#.utf8))
        #expect(a.firstDifference(from: moved) == "$.pages[0].boxes[0][1]: numbers differ")
        let extra = try JSONValue(parsing: Array(#"{"pages":[{"texts":["secret 123","b"],"boxes":[[1,2]]}],"n":1,"m":null}"#.utf8))
        #expect(a.firstDifference(from: extra) == "$: member m only in the second")
        #expect(a.firstDifference(from: .string("x")) == "$: object vs string")
    }
}

extension GraySplitTests {
    @Test func everyTenantsCopyOfADocumentFallsAtTheSamePlace() throws {
        let tenantPolicy = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "v1", scope: .tenant)
        let body = Array(#"{"file": "QUJD"}"#.utf8)
        let acme = try Canonicalizer().canonicalize(body: body, policy: tenantPolicy, scope: "acme")
        let globex = try Canonicalizer().canonicalize(body: body, policy: tenantPolicy, scope: "globex")
        #expect(acme.key != globex.key)
        #expect(GraySplit.unit(of: acme, policy: tenantPolicy) == GraySplit.unit(of: globex, policy: tenantPolicy))
    }
}
