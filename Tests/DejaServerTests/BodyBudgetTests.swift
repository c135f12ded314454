@testable import DejaServer
import Testing

@Suite struct BodyBudgetTests {
    @Test func refusesPastTheKeysShareThenPastTheWhole() throws {
        let budget = BodyBudget(maxBytes: 100, maxBytesPerKey: 60)
        let first = try budget.reserve(50, keyID: "a")
        #expect(throws: BodyBudget.Refusal.keyFull) { _ = try budget.reserve(20, keyID: "a") }
        let second = try budget.reserve(45, keyID: "b")
        #expect(throws: BodyBudget.Refusal.full) { _ = try budget.reserve(10, keyID: "c") }
        first.release()
        #expect(budget.held == 45)
        _ = second
    }

    @Test func aDroppedReservationGivesItsBytesBackOnce() throws {
        let budget = BodyBudget(maxBytes: 100, maxBytesPerKey: 100)
        do {
            let reservation = try budget.reserve(80, keyID: "a")
            reservation.release()
            reservation.release()  // a second release does nothing
            _ = try budget.reserve(70, keyID: "a")  // dropped at the end of this scope
        }
        #expect(budget.held == 0)
        _ = try budget.reserve(100, keyID: "a")
    }
}
