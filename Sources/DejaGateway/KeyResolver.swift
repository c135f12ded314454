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

    /// Resolves `exchange`'s key, and its canonical form when it had to be built; sets the id its answer
    /// echoes even when it throws the client's error (naming the field) for a body that cannot be read.
    func resolve(_ exchange: inout Exchange) async throws(GatewayError) {
        let task = exchange.task, body = exchange.body
        let name = task.policy.task, scope = task.memoScope(tenant: exchange.caller.tenant)
        let bodyDigest = await offServingThreads(bytes: body.readableBytes) { KeyMemo.bodyDigest(task: name, scope: scope, body: body) }
        if let remembered = memo.remembered(bodyDigest) {
            exchange.key = remembered.key
            exchange.sealing = remembered.sealing
            exchange.echo = remembered.echo
            exchange.route(remembered.choice)
            return
        }
        // An alias does not say which version of a gray release a body went to: during one, each
        // instance reads the body itself.
        if task.gray == nil, let shared = await sharedAlias(task: task, bodyDigest: bodyDigest) {
            // Another instance canonicalised this very body, so it is valid JSON.
            let wire = task.taskProtocol
            exchange.echo = await offServingThreads(bytes: body.readableBytes) { wire.echo(in: body) }
            memo.remember(bodyDigest, resolvesTo: shared.key, sealing: shared.sealing, echo: exchange.echo)
            exchange.key = shared.key
            exchange.sealing = shared.sealing
            return
        }
        let read = await read(exchange)
        exchange.echo = read.echo
        var request = try read.request.get()
        var choice = GrayRelease.Choice.stable
        if let gray = task.gray {
            choice = gray.choice(for: request, policy: task.policy)
            if choice == .candidate { request = request.rekeyed(for: gray.candidate.policy) }
        } else {
            shareAlias(task: task, bodyDigest: bodyDigest, request: request)
        }
        memo.remember(bodyDigest, resolvesTo: request.key, sealing: request.sealing, echo: read.echo, choice: choice)
        exchange.route(choice)
        exchange.key = request.key
        exchange.sealing = request.sealing
        exchange.canonical = request
    }

    /// The body the model is sent for `exchange`: from its canonical form, built now if the key came
    /// from the memo.
    func forwardBody(_ exchange: Exchange) async throws(GatewayError) -> [UInt8] {
        if let canonical = exchange.canonical { return canonical.forwardBody }
        return try await canonicalize(exchange).forwardBody
    }

    /// The canonical form of `exchange`'s body, checked by the task's protocol.
    func canonicalize(_ exchange: Exchange) async throws(GatewayError) -> CanonicalRequest {
        try await read(exchange).request.get()
    }

    /// What reading a body found: its canonical form or the client's error, and the id to echo.
    struct Read: Sendable {
        var request: Result<CanonicalRequest, GatewayError>
        var echo: String?
    }

    /// Reads `exchange`'s body: the canonical form, the protocol's check or its wording of the refusal,
    /// and the id to echo. All of it is work in the size of the body, so a large body is read on
    /// ``CanonicalWorkers``: however long that takes, the threads that answer hits and health checks are
    /// not the ones doing it.
    private func read(_ exchange: Exchange) async -> Read {
        let task = exchange.task, body = exchange.body, tenant = exchange.caller.tenant
        metrics.countCanonicalization(task: task.policy.task)
        let canonicalizer = self.canonicalizer, policy = task.policy, wire = task.taskProtocol
        return await offServingThreads(bytes: body.readableBytes) { () -> Read in
            let request: CanonicalRequest
            do throws(CanonicalError) {
                request = try canonicalizer.canonicalize(body: body, policy: policy, scope: tenant)
            } catch {
                // Only a body that parsed as an object has an id to echo.
                let unparsed: [CanonicalError.Code] = [.invalidJSON, .invalidUTF8, .invalidEscape, .emptyBody]
                let parsed = !unparsed.contains(error.code) && error.path != "$"
                return Read(request: .failure(wire.requestError(error, body: body)), echo: parsed ? wire.echo(in: body) : nil)
            }
            let echo = wire.echo(in: body)
            do throws(GatewayError) {
                try wire.check(request)
            } catch {
                return Read(request: .failure(error), echo: echo)
            }
            if task.fileURLs == .refuse, let member = Self.urlMember(request, policy: policy) {
                return Read(request: .failure(GatewayError(
                    .badRequest,
                    "\(member) is a URL; this gateway does not have files fetched from URLs (tasks[].fileURLs: refuse): send the file's bytes as base64",
                    status: 422)), echo: echo)
            }
            return Read(request: .success(request), echo: echo)
        }
    }

    /// `work` (which cannot fail) on ``CanonicalWorkers`` for a large body, else here.
    func offServingThreads<T: Sendable>(bytes: Int, _ work: @escaping @Sendable () -> T) async -> T {
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

    /// The content key and sealing digest another instance stored for this body, if the cache is
    /// shared and has them. The alias is sealed with the body's own digest, which only a holder of the
    /// body can compute.
    private func sharedAlias(task: TaskRuntime, bodyDigest: CacheKey) async -> (key: CacheKey, sealing: SealingDigest)? {
        guard let coordinator else { return nil }
        do {
            return try await coordinator.alias(Self.aliasName(task: task, bodyDigest: bodyDigest), sealing: SealingDigest(bodyDigest))
        } catch {
            return nil  // the store is down: canonicalise here
        }
    }

    /// Shares what a body resolved to, for as long as an answer to it may be kept; off the request path.
    private func shareAlias(task: TaskRuntime, bodyDigest: CacheKey, request: CanonicalRequest) {
        guard let coordinator else { return }
        let name = Self.aliasName(task: task, bodyDigest: bodyDigest)
        let freshness = task.freshness
        let seconds = freshness.ttl * (1 + freshness.ttlJitter) + max(freshness.staleIfError, freshness.staleWhileRevalidate)
        let logger = self.logger, key = request.key, target = request.sealing
        Task {
            do {
                try await coordinator.setAlias(
                    name, sealing: SealingDigest(bodyDigest), to: key, target: target, ttl: .milliseconds(Int64(seconds * 1000)))
            } catch {
                logger.debug("could not share a body alias", metadata: ["error": "\(error)"])
            }
        }
    }
}
