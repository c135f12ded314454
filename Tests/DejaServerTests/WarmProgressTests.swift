import DejaServer
import Foundation
import Testing

@Suite struct WarmProgressTests {
    @Test func talliesAnswersByHowTheCacheAnsweredThem() {
        var tally = WarmTally(total: 6)
        tally.count(status: 200, cache: "hit", billed: 0)
        tally.count(status: 200, cache: "miss", billed: 30)
        tally.count(status: 200, cache: "coalesced", billed: 0)
        tally.count(status: 422, cache: nil, billed: 0)
        tally.count(status: 503, cache: nil, billed: 0)
        tally.countUnanswered()
        #expect(tally.done == 6 && tally.hits == 1 && tally.misses == 1 && tally.other == 1)
        #expect(tally.errors == [422: 1, 503: 1, 0: 1] && tally.billedTokens == 30)
    }

    @Test func rateAndTimeLeft() {
        let (perSecond, remaining) = WarmProgress.rate(done: 30, total: 120, elapsed: 10)
        #expect(perSecond == 3 && remaining == 30)
        #expect(WarmProgress.rate(done: 0, total: 10, elapsed: 5).remaining == nil)
        #expect(WarmProgress.duration(30) == "30s")
        #expect(WarmProgress.duration(123) == "2m03s")
        #expect(WarmProgress.duration(3720) == "1h02m")
        #expect(WarmProgress.duration(nil) == "--")
    }

    @Test func barAndLine() {
        var tally = WarmTally(total: 8)
        for _ in 0..<2 { tally.count(status: 200, cache: "miss", billed: 10) }
        #expect(WarmProgress.bar(tally, elapsed: 4, width: 8) == "[##......] 2/8 25% 0.5/s eta 12s hits 0 misses 2 other 0 errors 0")
        #expect(WarmProgress.line(tally, elapsed: 4) == "warm: 2/8 25% 0.5/s eta 12s hits 0 misses 2 other 0 errors 0")
        let summary = WarmProgress.summary(tally, elapsed: 4, interrupted: true, state: "s.state")
        #expect(summary.hasPrefix("interrupted after 2 of 8 requests in 4s (0.5/s)"))
        #expect(summary.contains("billed 20 tokens") && summary.contains("progress kept in s.state"))
    }

    @Test func stateRemembersFinishedItems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("warm-\(UUID().uuidString).state").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (first, none) = try WarmState.open(path: path)
        #expect(none.isEmpty)
        first.markDone("line:1")
        first.markDone("file:a.png")
        first.close()
        let (second, done) = try WarmState.open(path: path)
        second.close()
        #expect(done == ["line:1", "file:a.png"])
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
