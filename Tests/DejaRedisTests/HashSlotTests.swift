import Testing

@testable import DejaRedis

@Suite("Hash slots")
struct HashSlotTests {
    @Test func crc16MatchesTheXmodemCheckValue() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    @Test("slots match what Redis reports for CLUSTER KEYSLOT", arguments: [
        ("foo", 12182), ("bar", 5061), ("hello", 866), ("", 0),
        ("{user1000}.following", 3443), ("{user1000}.followers", 3443), ("user1000", 3443),
        ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061),
    ])
    func knownSlots(key: String, slot: Int) {
        #expect(HashSlot(key: key).rawValue == UInt16(slot))
    }

    @Test func keysWithATagShareASlot() {
        #expect(RedisKey("deja:l:{abc}").hashSlot == RedisKey("deja:e:{abc}").hashSlot)
    }
}
