import DejaCache
import DejaCore
import DejaGateway
import DejaLedger
import Foundation
import NIOCore
import Testing

/// Another tenant's answer in a shared scope: it tells nothing about when it was made, and a tenant
/// whose budget would refuse a miss cannot use it to learn what others submitted.
@Suite struct ForeignAnswerTests {
    typealias Fixture = GatewayFailureTests.Fixture

    /// The response body with PaddleX's per-request `logId` taken out.
    static func withoutLogID(_ response: TaskResponse) throws -> [String: String] {
        var joined = ByteBuffer()
        for part in response.body { joined.writeImmutableBuffer(part) }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(joined.readableBytesView)) as? [String: Any])
        return object.filter { $0.key != "logId" }.mapValues { "\($0)" }
    }

    @Test func anotherTenantsAnswerCarriesNoAge() async throws {
        let f = try await Fixture()
        let theirs = f.body("theirs"), ours = f.body("ours")
        _ = try f.preload(theirs, createdAt: f.clock.now - 30, producer: "globex")
        _ = try f.preload(ours, createdAt: f.clock.now - 30)
        let foreign = await f.gateway.handle(task: f.task, caller: f.caller, body: theirs, cacheControl: CacheControl())
        #expect(foreign.outcome == .hit)
        #expect(foreign.age == nil)
        let own = await f.gateway.handle(task: f.task, caller: f.caller, body: ours, cacheControl: CacheControl())
        #expect(own.outcome == .hit)
        #expect(own.age == 30)
        try await f.close()
    }

    @Test func aTenantWithoutBudgetGetsTheMissRefusalForAnotherTenantsAnswer() async throws {
        let f = try await Fixture()
        // A miss holds one page (10 tokens) first; 5 left cannot cover it.
        try await f.ledger.setQuota(Quota(tenant: f.caller.tenant, period: .prepaid, limit: 5))
        let theirs = f.body("cached by globex"), nobodys = f.body("cached by nobody"), ours = f.body("cached by acme")
        _ = try f.preload(theirs, createdAt: f.clock.now - 5, producer: "globex")
        _ = try f.preload(ours, createdAt: f.clock.now - 5)

        let probe = await f.gateway.handle(task: f.task, caller: f.caller, body: theirs, cacheControl: CacheControl())
        let miss = await f.gateway.handle(task: f.task, caller: f.caller, body: nobodys, cacheControl: CacheControl())
        #expect(miss.status == 429)
        #expect(probe.status == miss.status)
        #expect(probe.outcome == miss.outcome)
        #expect(probe.detail == miss.detail)
        #expect(probe.retryAfter == miss.retryAfter)
        #expect(try Self.withoutLogID(probe) == Self.withoutLogID(miss))
        // Its own answers are still served past the budget (hitsPastBudget), billed nothing.
        let own = await f.gateway.handle(task: f.task, caller: f.caller, body: ours, cacheControl: CacheControl())
        #expect(own.status == 200 && own.outcome == .hit && own.billed == 0)

        // With budget, the other tenant's answer is served, billed nothing, and the hold is given back.
        try await f.ledger.setQuota(Quota(tenant: f.caller.tenant, period: .prepaid, limit: 100))
        let served = await f.gateway.handle(task: f.task, caller: f.caller, body: theirs, cacheControl: CacheControl())
        #expect(served.status == 200 && served.outcome == .hit && served.billed == 0)
        let again = await f.gateway.handle(task: f.task, caller: f.caller, body: theirs, cacheControl: CacheControl())
        #expect(again.status == 200)
        try await f.close()
    }
}
