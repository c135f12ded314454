/// A member name compared and hashed by its exact UTF-8 bytes.
///
/// Swift's `String` equality and hashing follow Unicode canonical equivalence, so `"é"` (composed) equals
/// `"e\u{301}"`. Member names in Deja are matched exactly, byte for byte; this wrapper does that.
struct ExactKey: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Whether `a` sorts before `b` by UTF-8 bytes, the order of canonical JSON.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
