import DejaCore
import DejaGateway
import Testing

@Suite struct FailureMemoryTests {
    let key = CacheKey(digest: KeyEncoding.digest(fields: [Array("poison".utf8)]))
    let other = CacheKey(digest: KeyEncoding.digest(fields: [Array("fine".utf8)]))

    @Test func rememberedUntilItsTimeThenForgotten() {
        let memory = FailureMemory()
        memory.remember(key, status: 500, until: 130)
        #expect(memory.failure(for: key, at: 100) == FailureMemory.Failure(status: 500, until: 130))
        #expect(memory.failure(for: other, at: 100) == nil)
        #expect(memory.failure(for: key, at: 130) == nil)
        #expect(memory.failure(for: key, at: 100) == nil)  // gone, not only hidden
    }

    @Test func boundedByCapacityOldestFirst() {
        let memory = FailureMemory(capacity: 3)
        let keys = (0..<5).map { CacheKey(digest: KeyEncoding.digest(fields: [[UInt8($0)]])) }
        for key in keys { memory.remember(key, status: 502, until: 1_000) }
        #expect(memory.failure(for: keys[0], at: 0) == nil)
        #expect(memory.failure(for: keys[1], at: 0) == nil)
        for key in keys[2...] { #expect(memory.failure(for: key, at: 0) != nil) }
    }

    @Test func forgetRemovesAtOnce() {
        let memory = FailureMemory()
        memory.remember(key, status: 500, until: 1_000)
        memory.forget(key)
        #expect(memory.failure(for: key, at: 0) == nil)
    }
}
