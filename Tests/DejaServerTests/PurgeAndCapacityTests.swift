import DejaCache
import DejaCore
import DejaGateway
@testable import DejaServer
import Foundation
import Testing

@Suite struct PurgeRequestTests {
    let now = 1_800_000_000.0

    func filter(_ json: String) throws(GatewayError) -> PurgeFilter {
        try PurgeRequest.filter(body: Array(json.utf8), tasks: ["ocr", "sentiment"], now: now)
    }

    func refusal(_ json: String) -> String? {
        do {
            _ = try filter(json)
            return nil
        } catch {
            #expect(error.status == 400)
            return error.message
        }
    }

    @Test func readsEveryField() throws {
        let key = String(repeating: "ab", count: 32)
        let read = try filter(#"{"task":"ocr","modelVersion":"v2","key":"\#(key)","tenant":"acme","olderThan":"7d"}"#)
        #expect(read == PurgeFilter(
            task: "ocr", modelVersion: "v2", key: CacheKey(hex: key), scopeTag: CacheEntry.scopeTag(scopeField: "tenant:acme"),
            createdBefore: now - 7 * 86_400))
        #expect(try filter(#"{"shared":true}"#).scopeTag == CacheEntry.scopeTag(scopeField: "shared"))
        #expect(try filter(#"{"all":true}"#) == PurgeFilter(all: true))
    }

    @Test func readsAges() {
        #expect(PurgeRequest.ageSeconds("90s") == 90)
        #expect(PurgeRequest.ageSeconds("30m") == 1800)
        #expect(PurgeRequest.ageSeconds("12h") == 43_200)
        #expect(PurgeRequest.ageSeconds("7d") == 604_800)
        for bad in ["", "d", "7", "0d", "-1h", "1.5h", "7w", "h7"] { #expect(PurgeRequest.ageSeconds(bad) == nil, "\(bad)") }
    }

    @Test func refusesBadFiltersNamingTheField() {
        #expect(refusal(#"{"task":"translate"}"#)?.contains("field 'task'") == true)
        #expect(refusal(#"{"key":"abc"}"#)?.contains("field 'key'") == true)
        #expect(refusal(#"{"olderThan":"soon"}"#)?.contains("field 'olderThan'") == true)
        #expect(refusal(#"{"all":1}"#)?.contains("field 'all'") == true)
        #expect(refusal(#"{"task":""}"#)?.contains("field 'task'") == true)
        #expect(refusal(#"{"colour":"red"}"#)?.contains("unknown field 'colour'") == true)
        #expect(refusal(#"{"tenant":"acme","shared":true}"#)?.contains("'tenant' and 'shared'") == true)
        #expect(refusal("{}")?.contains(#""all": true"#) == true)  // purging everything is never implicit
        #expect(refusal(#"{"all":false}"#) != nil)
        #expect(refusal("[1]") != nil)
    }
}

@Suite struct CapacityPlanTests {
    @Test func projectsByHandComputedFigures() {
        // 1,000,000 requests, 70 % repeats: 300,000 distinct answers.
        // L1: 300,000 × 20,704 B (a 20 KiB body + 128 + 96) = 6,211,200,000 B against a 2 GiB budget.
        // Redis: 300,000 × (20,500 + 56 + 128) B = 6,205,200,000 B, plus 1,000,000,000 used = 7,205,200,000 ≤ 8 GiB.
        let plan = CapacityPlan(.init(
            requests: 1_000_000, repeatRatio: 0.7, l1BytesPerEntry: 20_704, l1Budget: 2 << 30,
            redisBytesPerEntry: 20_500 + 56 + 128, redisUsed: 1_000_000_000, redisMax: 8 << 30))
        #expect(plan.distinctEntries == 300_000)
        #expect(plan.l1Bytes == 6_211_200_000)
        #expect(abs(plan.l1Share - 2_147_483_648.0 / 6_211_200_000) < 1e-12)
        #expect(plan.redisBytes == 6_205_200_000)
        #expect(plan.redisAfter == 7_205_200_000)
        #expect(plan.redisFits == true)
        #expect(plan.verdict[0].hasPrefix("L1: does not fit") && plan.verdict[0].contains("34%"))
        #expect(plan.verdict[1].hasPrefix("Redis: fits"))
    }

    @Test func roundsDistinctEntriesUpAndSaysWhenRedisOverflowsOrIsUnbounded() {
        // 10 requests, 1/3 repeats: ⌈6.67⌉ = 7 entries; 7 × 1000 = 7000 B of a 10,000 B budget.
        let small = CapacityPlan(.init(requests: 10, repeatRatio: 1.0 / 3, l1BytesPerEntry: 1000, l1Budget: 10_000,
                                       redisBytesPerEntry: 1500, redisUsed: 0, redisMax: 10_000))
        #expect(small.distinctEntries == 7)
        #expect(small.l1Bytes == 7000 && small.l1Share == 1)
        #expect(small.redisBytes == 10_500 && small.redisFits == false)
        #expect(small.verdict[1].hasPrefix("Redis: does not fit"))
        let unbounded = CapacityPlan(.init(requests: 10, repeatRatio: 0, l1BytesPerEntry: 1, l1Budget: 10, redisBytesPerEntry: 1))
        #expect(unbounded.redisFits == nil && unbounded.verdict[1].contains("no maxmemory"))
        #expect(CapacityPlan(.init(requests: 10, repeatRatio: 1, l1BytesPerEntry: 1, l1Budget: 0)).distinctEntries == 0)
    }

    @Test func inputsComeFromTheMeasuredSizes() throws {
        let report = CapacityReport(
            store: "redis",
            tasks: [
                .init(task: "ocr", memory: TaskCacheUsage(task: "ocr", entries: 2, sizes: [1000, 3000]),
                      store: TaskCacheUsage(task: "ocr", entries: 10, sizes: [900, 1100], sampled: 2), requestsLastHour: 5, hitRatioLastHour: 0.5),
                .init(task: "text", memory: TaskCacheUsage(task: "text", entries: 0, sizes: []),
                      store: TaskCacheUsage(task: "text", entries: 30, sizes: [200], sampled: 1), requestsLastHour: 0, hitRatioLastHour: 0),
            ],
            memory: .init(budgetBytes: 1 << 20, usedBytes: 4000, entries: 2),
            redis: .init(usedMemory: 5000, maxMemory: 0, evictedKeys: 0, perKeyOverheadBytes: 50, indexMemberBytes: 128))
        let ocr = try #require(report.planInputs(requests: 100, repeatRatio: 0.5, task: "ocr"))
        #expect(ocr.l1BytesPerEntry == 2000)  // the memory tier's mean
        #expect(ocr.redisBytesPerEntry.map { abs($0 - 1178) < 1e-9 } == true)
        // text has nothing in memory: its stored mean plus the key overhead and the entry allowance.
        let text = try #require(report.planInputs(requests: 100, repeatRatio: 0.5, task: "text"))
        #expect(text.l1BytesPerEntry == Double(200 + MemoryStore.keyOverhead + 128))
        // Every task: stored means weighted by entries, (10 × 1000 + 30 × 200) / 40 = 400.
        #expect(report.planInputs(requests: 1, repeatRatio: 0, task: nil)?.redisBytesPerEntry.map { abs($0 - 578) < 1e-9 } == true)
    }
}
