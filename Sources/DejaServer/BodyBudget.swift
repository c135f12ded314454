import Synchronization

/// Bounds the request body bytes held in memory at once: by all requests (`maxBytes`) and by the
/// requests of one API key (`maxBytesPerKey`), so a few clients sending large bodies at once cannot
/// take the memory every other request needs.
///
/// A request reserves its declared length (the limit when it declares none) before its body is read
/// and keeps the ``Reservation`` until its answer is written; the bytes return when the reservation
/// is released — at the latest when it is deinitialised, so no path can leak them.
final class BodyBudget: Sendable {
    /// Why a reservation was refused.
    enum Refusal: Error {
        /// All requests together hold `maxBytes`.
        case full
        /// This key's requests hold `maxBytesPerKey`.
        case keyFull
    }

    /// Bytes held for one request.
    final class Reservation: Sendable {
        private let budget: BodyBudget
        private let bytes: Int
        private let keyID: String
        private let released = Atomic(false)

        fileprivate init(budget: BodyBudget, bytes: Int, keyID: String) {
            self.budget = budget
            self.bytes = bytes
            self.keyID = keyID
        }

        /// Returns the bytes; later calls do nothing.
        func release() {
            guard !released.exchange(true, ordering: .relaxed) else { return }
            budget.give(bytes, keyID: keyID)
        }

        deinit { release() }
    }

    private struct State {
        var held = 0
        var heldByKey: [String: Int] = [:]
    }

    let maxBytes: Int
    let maxBytesPerKey: Int
    private let state = Mutex(State())

    init(maxBytes: Int, maxBytesPerKey: Int) {
        self.maxBytes = maxBytes
        self.maxBytesPerKey = maxBytesPerKey
    }

    /// Bytes held now, by all requests.
    var held: Int { state.withLock { $0.held } }

    /// Reserves `bytes` for a request of `keyID`.
    func reserve(_ bytes: Int, keyID: String) throws(Refusal) -> Reservation {
        let refusal = state.withLock { state -> Refusal? in
            let byKey = state.heldByKey[keyID, default: 0]
            guard state.held + bytes <= maxBytes else { return .full }
            guard byKey + bytes <= maxBytesPerKey else { return .keyFull }
            state.held += bytes
            state.heldByKey[keyID] = byKey + bytes
            return nil
        }
        if let refusal { throw refusal }
        return Reservation(budget: self, bytes: bytes, keyID: keyID)
    }

    private func give(_ bytes: Int, keyID: String) {
        state.withLock { state in
            state.held -= bytes
            let left = state.heldByKey[keyID, default: 0] - bytes
            state.heldByKey[keyID] = left > 0 ? left : nil
        }
    }
}
