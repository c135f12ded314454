import DejaCore
import DejaGateway
import Foundation
import NIOCore

/// From settings to what the gateway runs: each task's policy, meter, model servers and limits.
extension DejaConfiguration {
    /// The runtime form of every task, ready for the gateway.
    public func taskRuntimes(clock: WallClock = .system) throws -> [TaskRuntime] {
        try tasks.map { task in
            var defaults: [String: JSONValue] = [:]
            for (name, value) in task.defaults {
                do {
                    defaults[name] = try value.jsonValue()
                } catch {
                    throw ConfigurationError("tasks[\(task.name)].defaults.\(name) is not a valid JSON value")
                }
            }
            guard let wire = TaskProtocols.named(task.protocol) else {
                throw ConfigurationError("tasks[\(task.name)].protocol '\(task.protocol)' is not supported")
            }
            let policy = TaskPolicy(
                task: task.name,
                protocolName: wire.name,
                modelName: task.model.name,
                modelVersion: task.model.version,
                scope: task.scope == "tenant" ? .tenant : .shared,
                volatileFields: Set(task.volatileFields).union(wire.roles.volatile),
                defaults: defaults,
                binaryFields: Set(task.binaryFields).union(wire.roles.binary),
                requiredFields: Set(task.requiredFields).union(wire.roles.required),
                textNormalization: TextNormalization(rawValue: task.textNormalization) ?? .nfc,
                textRule: task.textRule?.textRule,
                fieldTextRules: task.textRules.mapValues(\.textRule),
                maxTextBytes: task.maxTextBytes
            )
            var parts: [Meter] = []
            if let n = task.meter.perRequest { parts.append(.perRequest(n)) }
            if let n = task.meter.perPage { parts.append(.perPage(n)) }
            if let n = task.meter.perOutputCharacter { parts.append(.perOutputCharacter(n)) }
            if let n = task.meter.perLabel { parts.append(.perLabel(n)) }
            if let n = task.meter.perInputKiB { parts.append(.perInputKiB(n)) }
            if let n = task.meter.perInputCharacter { parts.append(.perInputCharacter(n)) }
            if let n = task.meter.perModelToken { parts.append(.perModelToken(n)) }
            let meter: Meter = parts.count == 1 ? parts[0] : .sum(parts)
            var runtime = TaskRuntime(
                policy: policy,
                protocol: wire,
                route: task.effectiveRoute,
                upstreams: task.upstreamPool([task.upstream] + task.upstreams, clock: clock),
                timeout: .milliseconds(Int64(task.timeoutSeconds * 1000)),
                freshness: task.freshness,
                meter: meter,
                hitPrice: task.hitPrice,
                limiter: ConcurrencyLimiter(limit: task.maxConcurrency, maxQueue: task.maxQueue, maxQueuePerTenant: task.maxQueuePerTenant)
            )
            task.applySettings(to: &runtime)
            if let candidate = task.candidate {
                // The same task under the candidate's version, on its own servers, breakers and limiter.
                var candidateRuntime = TaskRuntime(
                    policy: policy.withModelVersion(candidate.modelVersion), protocol: wire, route: runtime.route,
                    upstreams: task.upstreamPool([candidate.upstream] + candidate.upstreams, clock: clock),
                    timeout: runtime.timeout, freshness: runtime.freshness, meter: meter, hitPrice: task.hitPrice,
                    limiter: ConcurrencyLimiter(limit: task.maxConcurrency, maxQueue: task.maxQueue, maxQueuePerTenant: task.maxQueuePerTenant))
                task.applySettings(to: &candidateRuntime)
                runtime.gray = GrayRelease(
                    candidate: candidateRuntime, fraction: candidate.fraction, shadow: candidate.shadow, maxShadowCalls: candidate.maxShadowCalls)
            }
            return runtime
        }
    }
}

extension DejaConfiguration.Task {
    /// The settings a task's runtime and its gray-release candidate's share, beyond what their
    /// initialiser takes.
    func applySettings(to runtime: inout TaskRuntime) {
        runtime.hitsPastBudget = hitsPastBudget
        runtime.noCacheReplacesShared = noCacheReplacesShared
        runtime.pageMemo = pageMemo
        runtime.pageMemoImages = pageMemoImages
        runtime.fileURLs = fileURLs == "forward" ? .forward : .refuse
        for (name, action) in sensitive {
            if let kind = SensitiveKind(rawValue: name), let action = SensitivePolicy.Action(rawValue: action) {
                runtime.sensitive.actions[kind] = action
            }
        }
    }

    /// The freshness rules of this task's answers.
    public var freshness: TaskRuntime.Freshness {
        var freshness = TaskRuntime.Freshness()
        freshness.ttl = ttlSeconds
        freshness.ttlJitter = ttlJitter
        freshness.negativeTTL = negativeTTLSeconds
        freshness.staleWhileRevalidate = staleWhileRevalidateSeconds
        freshness.staleIfError = staleIfErrorSeconds
        freshness.failureTTL = failureTTLSeconds
        return freshness
    }

    /// Model servers at `urls`, each with a breaker as this task's settings say.
    func upstreamPool(_ urls: [String], clock: WallClock) -> UpstreamPool {
        UpstreamPool(urls.map { url in
            Upstream(url: url, healthURL: healthURL(for: url), breaker: CircuitBreaker(
                failureThreshold: breakerFailures, openSeconds: breakerOpenSeconds,
                errorRate: breakerErrorRate > 0 ? breakerErrorRate : .infinity,
                window: breakerWindow, minimumCalls: 10, minimumSources: breakerMinimumTenants, clock: clock))
        })
    }

    /// The route, defaulting to `/<name>`.
    public var effectiveRoute: String { route ?? "/\(name)" }

    /// The health URL of the first upstream.
    public var effectiveHealthURL: String? { healthURL(for: upstream) }

    /// The health URL of one of the task's upstreams: `health` if it is a URL, else that path (default
    /// `/health`) on the upstream's scheme, host and port.
    public func healthURL(for upstreamURL: String) -> String? {
        if let health, !health.hasPrefix("/") { return health }
        guard var components = URLComponents(string: upstreamURL) else { return nil }
        components.path = health ?? "/health"
        components.query = nil
        return components.string
    }
}

extension DejaConfiguration.TextRuleConfig {
    /// The rule this setting describes (the form already validated).
    var textRule: TextRule {
        TextRule(form: TextNormalization(rawValue: form) ?? .nfc, trim: trim, collapseWhitespace: collapseWhitespace,
                 foldCase: foldCase, cjkSpacing: cjkSpacing)
    }
}
