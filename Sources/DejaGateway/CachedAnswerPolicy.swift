import DejaCore
import DejaLedger

/// What a stored entry is to one request: whether it may be served, as what, at what price, and with
/// what hold on the caller's budgets.
///
/// The one place this is decided. The router's path (``Gateway/handle(task:caller:body:cacheControl:idempotencyKey:)``)
/// and the event-loop hit path (``Gateway/cachedAnswer(task:caller:bodyDigest:cacheControl:)``) both
/// ask it; the event loop serves only what ``Serving/isImmediate`` says needs no waiting, and hands
/// everything else to the router, which serves it by the same decision.
///
/// | entry                                  | request                  | decision                      |
/// |----------------------------------------|--------------------------|-------------------------------|
/// | any                                    | `no-cache` / `no-store`  | ``Decision/unusable``         |
/// | fresh, older than `max-age`            | `max-age`                | ``Decision/unusable``         |
/// | fresh rejection (model's 4xx)          |                          | serve `negative`, billed 0    |
/// | fresh answer                           |                          | serve `hit`, billed hit price |
/// | expired answer, within SWR, ≤ max-age  |                          | serve `hit` and refresh       |
/// | expired answer otherwise               |                          | ``Decision/fallback``         |
/// | expired rejection                      |                          | ``Decision/unusable``         |
///
/// A served answer (`hit`, `coalesced`, `stale`) is billed ``hitPrice`` × its metered tokens, rounded;
/// with ``hitsPastBudget`` off it first holds that much (at least one token) in the caller's budgets.
/// A rejection is billed nothing and holds nothing.
///
/// An entry another tenant's request produced, served in a shared scope (`foreign`), is served only
/// where a miss would be let through: the caller's budgets are first checked for what a miss would
/// hold, so a tenant with no budget left gets the miss's refusal whether or not someone else's answer
/// is stored, and no `age` tells when that answer was made.
public struct CachedAnswerPolicy: Sendable, Equatable {
    /// Fraction of the metered tokens billed for an answer served from cache.
    public var hitPrice: Double
    /// Whether answers from cache are served past an exhausted budget.
    public var hitsPastBudget: Bool
    /// Seconds after expiry during which an answer is served while one background refresh runs.
    public var staleWhileRevalidate: Double

    public init(hitPrice: Double = 0, hitsPastBudget: Bool = true, staleWhileRevalidate: Double = 0) {
        self.hitPrice = hitPrice
        self.hitsPastBudget = hitsPastBudget
        self.staleWhileRevalidate = staleWhileRevalidate
    }

    /// How a served entry is labelled, billed and held.
    public struct Serving: Sendable, Equatable {
        /// `x-deja-cache`.
        public var outcome: Outcome
        /// Tokens billed.
        public var billed: Int64
        /// Tokens to hold in the caller's budgets before serving; `nil`: none.
        public var reservation: Int64?
        /// Another tenant's answer in a shared scope: served without `age`, and only after the caller's
        /// budgets are checked as for a miss.
        public var foreign: Bool

        public init(outcome: Outcome, billed: Int64, reservation: Int64?, foreign: Bool = false) {
            self.outcome = outcome
            self.billed = billed
            self.reservation = reservation
            self.foreign = foreign
        }

        /// Whether serving needs nothing that may wait: no durable billing, no hold on a budget.
        public var isImmediate: Bool { billed == 0 && reservation == nil && !foreign }
    }

    public enum Decision: Sendable, Equatable {
        /// Serve the entry.
        case serve(Serving)
        /// Serve the expired entry and refresh it once in the background (stale-while-revalidate).
        case serveAndRefresh(Serving)
        /// Not servable now; it may stand in if the model fails (stale-if-error).
        case fallback
        /// Not usable for this request.
        case unusable
    }

    /// The decision for `entry` found for a request with `cacheControl` at `now`; `foreign` when the entry
    /// is another tenant's answer in a shared scope.
    public func decide(_ entry: CacheEntry, cacheControl: CacheControl, now: Double, foreign: Bool = false) -> Decision {
        guard cacheControl.allowsCachedAnswer else { return .unusable }
        let tooOld = cacheControl.maxAge.map { entry.age(at: now) > $0 } ?? false
        if entry.isFresh(at: now) {
            if tooOld { return .unusable }
            return .serve(serving(entry, as: entry.status == 200 ? .hit : .negative, foreign: foreign))
        }
        guard entry.status == 200 else { return .unusable }
        if !tooOld, now < entry.expiresAt + staleWhileRevalidate {
            return .serveAndRefresh(serving(entry, as: .hit, foreign: foreign))
        }
        return .fallback
    }

    /// How `entry` is billed and held when served as `outcome`.
    public func serving(_ entry: CacheEntry, as outcome: Outcome, foreign: Bool = false) -> Serving {
        guard entry.status == 200 else { return Serving(outcome: .negative, billed: 0, reservation: nil, foreign: foreign) }
        let billed = hitPrice > 0 ? Int64((hitPrice * Double(entry.meteredTokens)).rounded()) : 0
        return Serving(outcome: outcome, billed: billed, reservation: hitsPastBudget ? nil : max(1, billed), foreign: foreign)
    }
}
