import DequeModule

/// A dictionary bounded by `capacity` entries: past it, the entries inserted longest ago go first.
///
/// A value type for use under a lock (``Authenticator``, ``FailureMemory``). Removing an entry leaves its
/// key in the insertion order until the order holds twice the capacity; then it is compacted, so every
/// operation is amortised O(1).
struct BoundedMap<Key: Hashable, Value> {
    private(set) var entries: [Key: Value] = [:]
    /// Keys in insertion order; may hold keys already removed.
    private var order: Deque<Key> = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    subscript(key: Key) -> Value? { entries[key] }

    var count: Int { entries.count }

    /// Sets `value` for `key`, evicting the oldest entries past the capacity.
    mutating func set(_ value: Value, for key: Key) {
        if entries.updateValue(value, forKey: key) == nil {
            order.append(key)
        }
        while entries.count > capacity, let oldest = order.popFirst() {
            entries[oldest] = nil
        }
        if order.count > 2 * capacity {
            order = Deque(order.filter { entries[$0] != nil })
        }
    }

    /// Removes the entry for `key`, returning its value.
    @discardableResult
    mutating func remove(_ key: Key) -> Value? {
        entries.removeValue(forKey: key)
    }

    /// Keeps only the entries for which `isIncluded` is true.
    mutating func filter(_ isIncluded: (Value) -> Bool) {
        entries = entries.filter { isIncluded($0.value) }
    }

    mutating func removeAll() {
        entries.removeAll()
        order.removeAll()
    }
}
