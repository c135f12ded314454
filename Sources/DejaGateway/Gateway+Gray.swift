import Crypto
import DejaCore
import DejaLedger
import NIOCore

/// A gray release's shadow mode: a sampled stable miss is also sent to the candidate, after the stable
/// answer is on its way, and the two answers are compared and recorded in the ledger. A shadow call is
/// never billed, never stored and never served.
extension Gateway {
    /// Starts the shadow comparison of `exchange`'s stable answer, if its miss is sampled
    /// (``GrayRelease/Choice/shadowed``). Never waits: at ``GrayRelease/maxShadowCalls`` in flight, the
    /// comparison is dropped and counted.
    func shadow(_ exchange: Exchange, stable answer: CacheEntry, forward: [UInt8]) {
        guard exchange.gray == .shadowed, let gray = exchange.task.gray else { return }
        let task = exchange.task, key = exchange.resolvedKey
        guard gray.startShadowCall() else {
            metrics.countShadow(task: task.policy.task, .dropped)
            return
        }
        Task {
            defer { gray.endShadowCall() }
            await compare(task: task, candidate: gray.candidate, key: key, stable: answer.body, forward: forward)
        }
    }

    private func compare(task: TaskRuntime, candidate: TaskRuntime, key: CacheKey, stable: ByteBuffer, forward: [UInt8]) async {
        let name = task.policy.task
        let answer: ModelAnswer?
        do {
            answer = try await model.shadowCall(candidate, forward: forward)
        } catch {
            answer = nil
        }
        guard let answer, let stableValue = try? JSONValue(parsing: Array(buffer: stable)) else {
            metrics.countShadow(task: name, .failed)
            logger.debug("a shadow call to the candidate got no answer", metadata: ["deja.task": "\(name)"])
            return
        }
        let wire = task.taskProtocol
        let stableForm = wire.comparable(ModelAnswer(stored: stable, value: stableValue))
        let candidateForm = wire.comparable(answer)
        let difference = stableForm.firstDifference(from: candidateForm)
        let comparison = GrayComparison(
            time: clock.now(), task: name, stableVersion: task.policy.modelVersion, candidateVersion: candidate.policy.modelVersion,
            key: key.hex, agree: difference == nil, difference: difference,
            stableDigest: Self.digest(stableForm), candidateDigest: Self.digest(candidateForm))
        metrics.countShadow(task: name, difference == nil ? .agreed : .disagreed)
        do {
            try await recorder.recordComparison(comparison)
        } catch {
            logger.warning("could not record a gray comparison", metadata: ["deja.task": "\(name)", "error": "\(error)"])
        }
    }

    /// SHA-256 (hex) of a comparable form's canonical bytes.
    private static func digest(_ form: JSONValue) -> String {
        CacheKey(digest: SHA256.hash(data: form.canonicalBytes())).hex
    }
}
