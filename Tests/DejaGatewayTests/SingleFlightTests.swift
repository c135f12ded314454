import DejaGateway
import Synchronization
import Testing

@Suite struct SingleFlightTests {
    struct Boom: Error {}

    @Test func concurrentCallersShareOneRun() async throws {
        let flight = SingleFlight<Int, Int>()
        let runs = Counter()
        let gate = AsyncGate()
        let results = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await flight.run(7) {
                        runs.increment()
                        await gate.wait()
                        return 42
                    }
                }
            }
            // Let every caller join before the leader finishes.
            while flight.waiting(for: 7) < 49 { await Task.yield() }
            await gate.open()
            var all: [(Int, Bool)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(runs.value == 1)
        #expect(results.count == 50)
        #expect(results.allSatisfy { $0.0 == 42 })
        #expect(results.filter(\.1).count == 1)
        #expect(flight.inFlight == 0)
    }

    @Test func everyWaiterGetsTheFailureAndNothingHangs() async throws {
        let flight = SingleFlight<String, Int>()
        let gate = AsyncGate()
        let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await flight.run("k") {
                            await gate.wait()
                            throw Boom()
                        }
                        return false
                    } catch is Boom {
                        return true
                    }
                }
            }
            while flight.waiting(for: "k") < 19 { await Task.yield() }
            await gate.open()
            var count = 0
            for try await failed in group where failed { count += 1 }
            return count
        }
        #expect(failures == 20)
        #expect(flight.inFlight == 0)
    }

    @Test func aLaterCallerStartsANewFlight() async throws {
        let flight = SingleFlight<Int, Int>()
        let runs = Counter()
        for expected in 1...3 {
            let (value, leader) = try await flight.run(1) {
                runs.increment()
                return expected
            }
            #expect(value == expected)
            #expect(leader)
        }
        #expect(runs.value == 3)
    }

    @Test func differentKeysDoNotWaitForEachOther() async throws {
        let flight = SingleFlight<Int, Int>()
        let gate = AsyncGate()
        async let blocked = flight.run(1) {
            await gate.wait()
            return 1
        }
        let (other, leader) = try await flight.run(2) { 2 }
        #expect(other == 2 && leader)
        await gate.open()
        #expect(try await blocked.value == 1)
    }
}

/// A thread-safe counter for closures that run concurrently.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    func increment() { storage.add(1, ordering: .relaxed) }
    func decrement() { storage.subtract(1, ordering: .relaxed) }
    /// Raises the value to `candidate` if that is larger.
    func raise(to candidate: Int) {
        var current = storage.load(ordering: .relaxed)
        while candidate > current {
            let (exchanged, original) = storage.compareExchange(expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
    var value: Int { storage.load(ordering: .relaxed) }
}

/// A one-shot gate that tasks can wait on.
actor AsyncGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}
