import DejaCore
import Synchronization

/// A task's gray release: a candidate model version with its own model servers, serving a stable,
/// content-chosen fraction of the task's documents, and asked in the shadow for a sample of the others.
///
/// Which version a request goes to is ``GraySplit/unit(of:policy:)`` of its canonical form, a pure
/// function of the content and the configuration: `unit < fraction` goes to the candidate; among the
/// rest, the first `shadow` share of what remains is shadowed. The candidate's answers are keyed under
/// its own version, so the two versions' answers never share a key.
public final class GrayRelease: Sendable {
    /// The candidate as a task of its own: the stable task's policy under the candidate's model
    /// version, its own model servers (each with its own breaker) and its own limiter.
    public let candidate: TaskRuntime
    /// Fraction of documents served by the candidate, in [0, 1].
    public let fraction: Double
    /// Fraction of the other documents' misses also sent to the candidate, unbilled and never served,
    /// to compare the answers; in [0, 1].
    public let shadow: Double
    /// Shadow calls in flight at most; more are dropped (and counted), never queued.
    public let maxShadowCalls: Int
    private let shadowCalls = Atomic<Int>(0)

    /// The tenant shadow calls are made as (in the candidate's limiter and breakers); nobody is billed.
    public static let shadowTenant = "deja:shadow"

    public init(candidate: TaskRuntime, fraction: Double, shadow: Double, maxShadowCalls: Int = 2) {
        self.candidate = candidate
        self.fraction = min(max(fraction, 0), 1)
        self.shadow = min(max(shadow, 0), 1)
        self.maxShadowCalls = max(1, maxShadowCalls)
    }

    /// Which version answers a request, and whether its miss is shadowed.
    public enum Choice: Sendable, Equatable {
        /// The stable version answers.
        case stable
        /// The stable version answers; a miss is also sent to the candidate to compare.
        case shadowed
        /// The candidate answers.
        case candidate
    }

    /// The choice for a request at `unit` (``GraySplit/unit(of:policy:)``).
    public func choice(at unit: Double) -> Choice {
        if unit < fraction { return .candidate }
        // The stable share, rescaled to [0, 1): a fixed sample of the stable documents.
        let rest = fraction < 1 ? (unit - fraction) / (1 - fraction) : 1
        return rest < shadow ? .shadowed : .stable
    }

    /// The choice for `request`, canonicalised under `policy` (the stable task's).
    public func choice(for request: CanonicalRequest, policy: TaskPolicy) -> Choice {
        choice(at: GraySplit.unit(of: request, policy: policy))
    }

    /// Takes a place for one shadow call; `false` when `maxShadowCalls` are in flight (the call is dropped).
    func startShadowCall() -> Bool {
        var current = shadowCalls.load(ordering: .relaxed)
        while current < maxShadowCalls {
            let (exchanged, original) = shadowCalls.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives back the place of a shadow call that ended.
    func endShadowCall() {
        shadowCalls.subtract(1, ordering: .acquiringAndReleasing)
    }
}

extension TaskRuntime {
    /// `request` as the version that answers it keys it: re-keyed under the candidate's model version
    /// when this task's gray release sends its document there, as itself otherwise. What `deja explain`
    /// and `POST /admin/explain` show, so their key is the one the request path uses (``KeyResolver``).
    public func routed(_ request: CanonicalRequest) -> (request: CanonicalRequest, modelVersion: String) {
        guard let gray, gray.choice(for: request, policy: policy) == .candidate else { return (request, policy.modelVersion) }
        return (request.rekeyed(for: gray.candidate.policy), gray.candidate.policy.modelVersion)
    }
}

extension TaskRuntime {
    /// The task's model servers, then its gray release candidate's, each group under the name health
    /// checks and metrics give it: the task's name, or `<task>.candidate`.
    public var modelServerGroups: [(name: String, pool: UpstreamPool)] {
        [(policy.task, upstreams)] + (gray.map { [(policy.task + ".candidate", $0.candidate.upstreams)] } ?? [])
    }
}
