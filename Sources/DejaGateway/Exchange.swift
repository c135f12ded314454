import DejaCore
import DejaLedger
import NIOCore

/// One task request on its way through the gateway: what every collaborator needs to know about it.
struct Exchange: Sendable {
    /// The task that answers: the route's, or its gray release's candidate once the key says so.
    private(set) var task: TaskRuntime
    /// Which version of a gray release answers, once the key is resolved (``GrayRelease/Choice``).
    private(set) var gray = GrayRelease.Choice.stable
    /// Who asks.
    let caller: APIKeyInfo
    /// The body as it came.
    let body: ByteBuffer
    /// The request's `Cache-Control`.
    let cacheControl: CacheControl
    /// When the request reached the gateway (``WallClock`` seconds).
    let started: Double
    /// The content key, once resolved.
    var key: CacheKey?
    /// The digest that seals this request's stored answers, resolved with the key; never stored or sent.
    var sealing: SealingDigest?
    /// The canonical form, when it had to be built to find the key (it holds the forward body).
    var canonical: CanonicalRequest?
    /// The request's own id its answer echoes (``TaskProtocol/echo(in:)``), once read.
    var echo: String?
    /// Whose answer this request's model call produces (``DejaCore/CacheEntry/producerTag(tenant:)``):
    /// the caller's tenant, or for a background refresh the tenant of the request that prompted it. Only
    /// a shared scope reads it (``isForeign(_:)``); in a tenant's own scope it is 0, and no request pays
    /// for the digest.
    var producer: UInt64

    /// - Parameter producer: given when known (a memory hit produces nothing); else the caller's tenant's tag.
    init(task: TaskRuntime, caller: APIKeyInfo, body: ByteBuffer, cacheControl: CacheControl, started: Double, producer: UInt64? = nil) {
        self.task = task
        self.caller = caller
        self.body = body
        self.cacheControl = cacheControl
        self.started = started
        self.producer = producer ?? (task.policy.scope == .shared ? CacheEntry.producerTag(tenant: caller.tenant) : 0)
    }

    /// Whether `entry` answers this request with another tenant's answer: in a shared scope, an entry
    /// another tenant's request produced. Such an answer carries no `age`, and is served only where the
    /// caller's budgets would let a miss through (no free probing of what others submitted).
    func isForeign(_ entry: CacheEntry) -> Bool {
        task.policy.scope == .shared && entry.producer != producer
    }

    /// Names the key's scope field (``DejaCore/CacheEntry/scopeTag(scopeField:)``), stored with the
    /// answer so a purge can select one tenant's entries; computed when an answer is stored (a miss).
    var scopeTag: UInt64 {
        CacheEntry.scopeTag(scopeField: task.policy.scope.keyField(tenant: caller.tenant) ?? "")
    }

    /// Routes the request to the version `choice` names: the candidate's task when it is the candidate.
    mutating func route(_ choice: GrayRelease.Choice) {
        gray = choice
        if choice == .candidate, let release = task.gray { task = release.candidate }
    }

    /// The content key of a resolved request: every step after ``KeyResolver`` reads it.
    var resolvedKey: CacheKey {
        guard let key else { preconditionFailure("the request path reads the key only after KeyResolver resolved it") }
        return key
    }

    /// The sealing digest of a resolved request.
    var resolvedSealing: SealingDigest {
        guard let sealing else { preconditionFailure("the request path reads the sealing digest only after KeyResolver resolved it") }
        return sealing
    }

    /// The task's name, for records, metrics and logs.
    var taskName: String { task.policy.task }
}

/// Whose budget a model call is billed to.
enum Billing: Sendable {
    /// The caller's: reserved before the call, billed with the answer.
    case caller
    /// Nobody's: a background refresh no client asked for (recorded, billed 0).
    case nobody
}

/// Whether and how a fresh answer from the model is stored.
enum StoreRule: Sendable {
    /// Store it (a miss).
    case store
    /// The caller asked for the model's own answer (`no-cache`): store it, but never in place of a
    /// fresh, different answer that other tenants may rely on (unless the task allows that).
    case refresh
    /// Leave the cache alone (`no-store`).
    case skip
}
