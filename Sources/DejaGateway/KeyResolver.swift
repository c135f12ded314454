import DejaCache
import DejaCore
import Logging
import NIOCore

/// Finds a request's content key: from the memo for a byte-identical repeat, from another instance's
/// alias, or by building the canonical form — on ``CanonicalWorkers`` for a large body, so that however
/// long that takes, the threads that answer hits and health checks are not the ones doing it.
struct KeyResolver: Sendable {
    let memo: KeyMemo
    /// Decodes each distinct image once: a byte-identical repeat resolves by one SHA-256 pass.
    let canonicalizer: Canonicalizer
    /// Threads for the digest and canonical form of large bodies; `nil`: on the calling task.
    let workers: CanonicalWorkers?
    /// The shared store where instances leave what a body resolved to; `nil` when embedded.
    let coordinator: RedisStore?
    let metrics: GatewayMetrics
    let logger: Logger

    /// The key of `exchange`'s body, and its canonical form when it had to be built. Throws the
    /// client's error (naming the field) for a body that cannot be read.
    func resolve(_ exchange: Exchange) async throws(GatewayError) -> Exchange {
        var exchange = exchange
        let task = exchange.task, body = exchange.body
        let name = task.policy.task, scope = task.memoScope(tenant: exchange.caller.tenant)
        let bodyDigest = await offServingThreads(bytes: body.readableBytes) { KeyMemo.bodyDigest(task: name, scope: scope, body: body) }
        if let remembered = memo.remembered(bodyDigest) {
            exchange.key = remembered.key
            exchange.echo = remembered.echo
            return exchange
        }
        if let shared = await sharedAlias(task: task, bodyDigest: bodyDigest) {
            exchange.echo = task.taskProtocol.echo(in: body)
            memo.remember(bodyDigest, resolvesTo: shared, echo: exchange.echo)  // another instance canonicalised this very body
            exchange.key = shared
            return exchange
        }
        let request = try await canonicalize(exchange)
        exchange.echo = task.taskProtocol.echo(in: body)
        memo.remember(bodyDigest, resolvesTo: request.key, echo: exchange.echo)
        shareAlias(task: task, bodyDigest: bodyDigest, key: request.key)
        exchange.key = request.key
        exchange.canonical = request
        return exchange
    }

    /// The body the model is sent for `exchange`: from its canonical form, built now if the key came
    /// from the memo.
    func forwardBody(_ exchange: Exchange) async throws(GatewayError) -> [UInt8] {
        if let canonical = exchange.canonical { return canonical.forwardBody }
        return try await canonicalize(exchange).forwardBody
    }

    /// The canonical form of `exchange`'s body, checked by the task's protocol.
    func canonicalize(_ exchange: Exchange) async throws(GatewayError) -> CanonicalRequest {
        let task = exchange.task, body = exchange.body, tenant = exchange.caller.tenant
        metrics.countCanonicalization(task: task.policy.task)
        let canonicalizer = self.canonicalizer, policy = task.policy
        let work = { @Sendable () throws(CanonicalError) -> CanonicalRequest in
            try canonicalizer.canonicalize(body: body, policy: policy, scope: tenant)
        }
        let request: CanonicalRequest
        do {
            if let workers {
                request = try await workers.run(bytes: body.readableBytes, work)
            } else {
                request = try work()
            }
        } catch {
            throw task.taskProtocol.requestError(error, body: body)
        }
        try task.taskProtocol.check(request)
        if task.fileURLs == .refuse, let member = Self.urlMember(request, policy: task.policy) {
            throw GatewayError(
                .badRequest,
                "\(member) is a URL; this gateway does not have files fetched from URLs (tasks[].fileURLs: refuse): send the file's bytes as base64",
                status: 422)
        }
        return request
    }

    /// `work` (which cannot fail) on ``CanonicalWorkers`` for a large body, else here.
    private func offServingThreads<T: Sendable>(bytes: Int, _ work: @escaping @Sendable () -> T) async -> T {
        guard let workers else { return work() }
        return await workers.run(bytes: bytes) { () throws(Never) in work() }
    }

    /// The first binary member of `request` given as an http(s) URL (the canonical form keeps a URL's
    /// text, and a file's digest never starts with a scheme).
    static func urlMember(_ request: CanonicalRequest, policy: TaskPolicy) -> String? {
        for name in policy.binaryFields.sorted() {
            guard let text = request.canonicalForm[name]?.stringValue else { continue }
            let lower = text.prefix(8).lowercased()
            if lower.hasPrefix("http://") || lower.hasPrefix("https://") { return name }
        }
        return nil
    }

    // MARK: - Aliases shared across instances

    /// The name under which instances share what a raw body resolved to: the memo digest (task, scope,
    /// body) bound to everything else the key depends on (scheme, model name and version, config), so
    /// a new model version or configuration never reads an old alias.
    static func aliasName(task: TaskRuntime, bodyDigest: CacheKey) -> CacheKey {
        let policy = task.policy
        return CacheKey(digest: KeyEncoding.digest(fields: [
            Array("deja-alias-v1".utf8), Array(CanonicalScheme.policyTag.utf8), Array(policy.modelName.utf8),
            Array(policy.modelVersion.utf8), Array(policy.configHash.utf8), bodyDigest.bytes,
        ]))
    }

    /// The content key another instance stored for this body, if the cache is shared and has one.
    private func sharedAlias(task: TaskRuntime, bodyDigest: CacheKey) async -> CacheKey? {
        guard let coordinator else { return nil }
        do {
            return try await coordinator.alias(Self.aliasName(task: task, bodyDigest: bodyDigest))
        } catch {
            return nil  // the store is down: canonicalise here
        }
    }

    /// Shares what a body resolved to, for as long as an answer to it may be kept; off the request path.
    private func shareAlias(task: TaskRuntime, bodyDigest: CacheKey, key: CacheKey) {
        guard let coordinator else { return }
        let name = Self.aliasName(task: task, bodyDigest: bodyDigest)
        let freshness = task.freshness
        let seconds = freshness.ttl * (1 + freshness.ttlJitter) + max(freshness.staleIfError, freshness.staleWhileRevalidate)
        let logger = self.logger
        Task {
            do {
                try await coordinator.setAlias(name, to: key, ttl: .milliseconds(Int64(seconds * 1000)))
            } catch {
                logger.debug("could not share a body alias", metadata: ["error": "\(error)"])
            }
        }
    }
}
