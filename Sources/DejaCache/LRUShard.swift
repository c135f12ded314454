import DejaCore

/// One shard of a ``MemoryStore``: a key index plus an intrusive doubly-linked LRU list over array slots.
///
/// Every operation is O(1) (``purgeExpired(now:)`` excepted) and allocates only when the slot array grows.
/// Not thread-safe: ``MemoryStore`` keeps each shard behind its own mutex.
struct LRUShard {
    private struct Node {
        var key: CacheKey
        var entry: CacheEntry?
        var charged: Int
        var prev: Int32
        var next: Int32
    }

    private static let none: Int32 = -1

    /// Bytes this shard may hold.
    let budget: Int
    /// Bytes currently charged.
    private(set) var bytesUsed = 0
    /// Entries dropped to make room.
    private(set) var evictions = 0

    private var index: [CacheKey: Int32] = [:]
    private var nodes: ContiguousArray<Node> = []
    private var freeSlots: [Int32] = []
    /// Most recently used slot.
    private var head: Int32 = LRUShard.none
    /// Least recently used slot; the next to evict.
    private var tail: Int32 = LRUShard.none

    init(budget: Int) {
        self.budget = max(0, budget)
    }

    /// Number of entries held (including expired ones not yet dropped).
    var count: Int { index.count }

    /// The entry for `key` if retained at `now`, marking it most recently used; drops it when expired.
    mutating func get(_ key: CacheKey, now: Double) -> CacheEntry? {
        guard let slot = index[key] else { return nil }
        guard let entry = nodes[Int(slot)].entry, now < entry.retainUntil else {
            removeSlot(slot)
            return nil
        }
        if slot != head {
            unlink(slot)
            linkFront(slot)
        }
        return entry
    }

    /// Whether `key` is held and retained at `now`; the LRU order is left alone.
    func peek(_ key: CacheKey, now: Double) -> Bool {
        guard let slot = index[key], let entry = nodes[Int(slot)].entry else { return false }
        return now < entry.retainUntil
    }

    /// Stores `entry` charged at `charged` bytes, evicting least recently used entries first so the budget
    /// is never exceeded. Returns whether it was stored (it is not when larger than the budget or expired).
    @discardableResult
    mutating func put(_ key: CacheKey, _ entry: CacheEntry, charged: Int, now: Double) -> Bool {
        if let slot = index[key] { removeSlot(slot) }
        guard now < entry.retainUntil, charged <= budget else { return false }
        while bytesUsed + charged > budget, tail != Self.none {
            removeSlot(tail)
            evictions += 1
        }
        let node = Node(key: key, entry: entry, charged: charged, prev: Self.none, next: Self.none)
        let slot: Int32
        if let free = freeSlots.popLast() {
            slot = free
            nodes[Int(slot)] = node
        } else {
            slot = Int32(nodes.count)
            nodes.append(node)
        }
        index[key] = slot
        linkFront(slot)
        bytesUsed += charged
        return true
    }

    /// Removes the entry for `key`; returns whether there was one.
    @discardableResult
    mutating func remove(_ key: CacheKey) -> Bool {
        guard let slot = index[key] else { return false }
        removeSlot(slot)
        return true
    }

    /// Drops every entry and releases the slot storage.
    mutating func removeAll() {
        index.removeAll()
        nodes.removeAll()
        freeSlots.removeAll()
        head = Self.none
        tail = Self.none
        bytesUsed = 0
    }

    /// Drops every entry past its `retainUntil` at `now`; returns how many. O(n) in the slots.
    mutating func purgeExpired(now: Double) -> Int {
        var dropped = 0
        var slot = tail
        while slot != Self.none {
            let previous = nodes[Int(slot)].prev
            if let entry = nodes[Int(slot)].entry, now >= entry.retainUntil {
                removeSlot(slot)
                dropped += 1
            }
            slot = previous
        }
        return dropped
    }

    /// Removes the entries `filter` matches among slots `start..<start + limit`; returns how many, and the
    /// slot to continue from (`nil` when every slot was visited). Slots keep their place when entries are
    /// removed, so a purge can release the lock between chunks and continue where it stopped.
    mutating func remove(matching filter: PurgeFilter, from start: Int, limit: Int) -> (removed: Int, next: Int?) {
        let end = min(nodes.count, start + limit)
        var removed = 0
        var slot = start
        while slot < end {
            if let entry = nodes[slot].entry, filter.matches(nodes[slot].key, entry) {
                removeSlot(Int32(slot))
                removed += 1
            }
            slot += 1
        }
        return (removed, end < nodes.count ? end : nil)
    }

    /// Calls `body` with every held entry and its charge (expired ones included until dropped).
    func forEachEntry(_ body: (CacheEntry, Int) -> Void) {
        for node in nodes {
            if let entry = node.entry { body(entry, node.charged) }
        }
    }

    /// Keys from most to least recently used; for tests.
    /// Keys from most to least recently used with what each is charged, until their charges would pass
    /// `bytes`; expired entries are skipped.
    func recentKeys(upToBytes bytes: Int, now: Double) -> [(key: CacheKey, charged: Int)] {
        var keys: [(key: CacheKey, charged: Int)] = []
        var total = 0
        var slot = head
        while slot != Self.none {
            let node = nodes[Int(slot)]
            slot = node.next
            guard let entry = node.entry, now < entry.retainUntil else { continue }
            total += node.charged
            if total > bytes { break }
            keys.append((node.key, node.charged))
        }
        return keys
    }

    var keysByRecency: [CacheKey] {
        var keys: [CacheKey] = []
        var slot = head
        while slot != Self.none {
            keys.append(nodes[Int(slot)].key)
            slot = nodes[Int(slot)].next
        }
        return keys
    }

    private mutating func removeSlot(_ slot: Int32) {
        unlink(slot)
        let i = Int(slot)
        index.removeValue(forKey: nodes[i].key)
        bytesUsed -= nodes[i].charged
        nodes[i].entry = nil
        nodes[i].charged = 0
        freeSlots.append(slot)
    }

    private mutating func unlink(_ slot: Int32) {
        let i = Int(slot)
        let prev = nodes[i].prev
        let next = nodes[i].next
        if prev != Self.none { nodes[Int(prev)].next = next } else { head = next }
        if next != Self.none { nodes[Int(next)].prev = prev } else { tail = prev }
        nodes[i].prev = Self.none
        nodes[i].next = Self.none
    }

    private mutating func linkFront(_ slot: Int32) {
        let i = Int(slot)
        nodes[i].prev = Self.none
        nodes[i].next = head
        if head != Self.none { nodes[Int(head)].prev = slot } else { tail = slot }
        head = slot
    }
}
