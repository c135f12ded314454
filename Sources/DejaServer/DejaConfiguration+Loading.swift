import DejaCore
import DejaGateway
import Foundation
import NIOCore
import Yams

extension DejaConfiguration {
    /// Reads the YAML file at `path` (defaults when `nil`), applies `DEJA_*` environment overrides and
    /// validates the result.
    public static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DejaConfiguration {
        var configuration = DejaConfiguration()
        if let path {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("cannot read the configuration file '\(path)'")
            }
            do {
                if !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    configuration = try YAMLDecoder().decode(DejaConfiguration.self, from: text)
                }
            } catch let error as DecodingError {
                throw ConfigurationError("'\(path)': \(Self.describe(error))")
            } catch {
                throw ConfigurationError("'\(path)' is not valid YAML: \(error)")
            }
        }
        try configuration.applyEnvironment(environment)
        try configuration.validate()
        return configuration
    }

    /// Applies the `DEJA_*` environment overrides; see the README for the list.
    public mutating func applyEnvironment(_ environment: [String: String]) throws {
        func int(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text) else { throw ConfigurationError("\(name)=\(text) is not a whole number") }
            return value
        }
        func double(_ name: String) throws -> Double? {
            guard let text = environment[name] else { return nil }
            guard let value = Double(text) else { throw ConfigurationError("\(name)=\(text) is not a number") }
            return value
        }
        if let value = environment["DEJA_HOST"] { server.host = value }
        if let value = try int("DEJA_PORT") { server.port = value }
        if let value = try int("DEJA_MAX_BODY_BYTES") { server.maxBodyBytes = value }
        if let value = try double("DEJA_RATE_LIMIT_PER_SECOND") { server.rateLimitPerSecond = value }
        if let value = try int("DEJA_EVENT_LOOP_THREADS") { server.eventLoopThreads = value }
        if let value = try double("DEJA_IDLE_TIMEOUT_SECONDS") { server.idleTimeoutSeconds = value }
        if let value = try double("DEJA_HEADER_TIMEOUT_SECONDS") { server.headerTimeoutSeconds = value }
        if let value = try double("DEJA_LINGER_SECONDS") { server.lingerSeconds = value }
        if let value = try int("DEJA_LINGER_BYTES") { server.lingerBytes = value }
        if let value = environment["DEJA_FAST_PATH"] { server.fastPath = !["0", "false", "no", "off"].contains(value.lowercased()) }
        if let value = environment["DEJA_PLAIN_HITS"] { server.plainHits = !["0", "false", "no", "off"].contains(value.lowercased()) }
        if let value = environment["DEJA_STORAGE_PATH"] { storage.path = value }
        if let value = try int("DEJA_MEMORY_BYTES") { storage.memoryBytes = value }
        if let value = try int("DEJA_PRELOAD_BYTES") { storage.preloadBytes = value }
        if let value = try double("DEJA_RECORD_RETENTION_DAYS") { storage.recordRetentionDays = value }
        if let value = try double("DEJA_COUNT_RETENTION_DAYS") { storage.countRetentionDays = value }
        if let value = environment["DEJA_PERSISTENT"] { storage.persistent = !["0", "false", "no", "off"].contains(value.lowercased()) }
        if let value = environment["DEJA_WRITE_BEHIND"] { storage.writeBehind = !["0", "false", "no", "off"].contains(value.lowercased()) }
        if let value = environment["DEJA_CACHE"] { storage.cache = value.isEmpty ? nil : value }
        if let value = environment["DEJA_LEDGER"] { storage.ledger = value.isEmpty ? nil : value }
        if let value = environment["DEJA_ADMIN_TOKEN"] { adminToken = value.isEmpty ? nil : value }
        if let value = environment["DEJA_LOG_LEVEL"] { logLevel = value }
        try tracing.applyEnvironment(environment)
        if let value = environment["DEJA_SEAL_SECRETS"], !value.isEmpty {
            sealSecrets = value
        } else if let path = environment["DEJA_SEAL_SECRETS_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("DEJA_SEAL_SECRETS_FILE: cannot read '\(path)'")
            }
            sealSecrets = String(decoding: data, as: UTF8.self)
        }
        for index in tasks.indices {
            let prefix = "DEJA_TASK_\(tasks[index].name.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined())_"
            if let value = environment[prefix + "UPSTREAM"] { tasks[index].upstream = value }
            if let value = environment[prefix + "UPSTREAMS"] {
                tasks[index].upstreams = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            if let value = environment[prefix + "HEALTH"] { tasks[index].health = value }
            if let value = environment[prefix + "MODEL_NAME"] { tasks[index].model.name = value }
            if let value = environment[prefix + "MODEL_VERSION"] { tasks[index].model.version = value }
            if let value = try double(prefix + "TTL_SECONDS") { tasks[index].ttlSeconds = value }
            if let value = try double(prefix + "TIMEOUT_SECONDS") { tasks[index].timeoutSeconds = value }
            if let value = try double(prefix + "HIT_PRICE") { tasks[index].hitPrice = value }
            if let value = environment[prefix + "SCOPE"] { tasks[index].scope = value }
            if let value = environment[prefix + "USAGE_RECORDS"] { tasks[index].usage.records = value }
            for kind in SensitiveKind.allCases {
                if let value = environment[prefix + "SENSITIVE_" + kind.rawValue.uppercased()] { tasks[index].sensitive[kind.rawValue] = value }
            }
            if let value = try double(prefix + "STALE_IF_ERROR_SECONDS") { tasks[index].staleIfErrorSeconds = value }
            if let value = try double(prefix + "NEGATIVE_TTL_SECONDS") { tasks[index].negativeTTLSeconds = value }
            if let value = try int(prefix + "MAX_CONCURRENCY") { tasks[index].maxConcurrency = value }
            if let value = try int(prefix + "BREAKER_MINIMUM_TENANTS") { tasks[index].breakerMinimumTenants = value }
            if let value = try double(prefix + "FAILURE_TTL_SECONDS") { tasks[index].failureTTLSeconds = value }
            try applyCandidateEnvironment(environment, prefix: prefix + "CANDIDATE_", task: index)
        }
    }

    /// `DEJA_TASK_<NAME>_CANDIDATE_*`: a gray release's candidate. `MODEL_VERSION` and `UPSTREAM` declare
    /// one where the file has none; an empty `MODEL_VERSION` removes it (a promotion or a rollback).
    private mutating func applyCandidateEnvironment(_ environment: [String: String], prefix: String, task index: Int) throws {
        if let version = environment[prefix + "MODEL_VERSION"], version.isEmpty {
            tasks[index].candidate = nil
            return
        }
        var candidate = tasks[index].candidate
        if candidate == nil {
            let version = environment[prefix + "MODEL_VERSION"], upstream = environment[prefix + "UPSTREAM"]
            guard version != nil || upstream != nil else { return }
            guard let version, let upstream else {
                throw ConfigurationError("\(prefix)MODEL_VERSION and \(prefix)UPSTREAM declare a candidate together; set both")
            }
            candidate = DejaConfiguration.Candidate(modelVersion: version, upstream: upstream)
        }
        guard var candidate else { return }
        if let value = environment[prefix + "MODEL_VERSION"] { candidate.modelVersion = value }
        if let value = environment[prefix + "UPSTREAM"] { candidate.upstream = value }
        if let value = environment[prefix + "UPSTREAMS"] {
            candidate.upstreams = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        let fractions: [(String, WritableKeyPath<DejaConfiguration.Candidate, Double>)] = [("FRACTION", \.fraction), ("SHADOW", \.shadow)]
        for (name, keyPath) in fractions {
            guard let text = environment[prefix + name] else { continue }
            guard let value = Double(text) else { throw ConfigurationError("\(prefix)\(name)=\(text) is not a number") }
            candidate[keyPath: keyPath] = value
        }
        tasks[index].candidate = candidate
    }

    /// Checks every value a server would trip over later, with a message naming the setting.
    public func validate() throws {
        guard (1...65535).contains(server.port) || server.port == 0 else {
            throw ConfigurationError("server.port \(server.port) is not a port number (1-65535)")
        }
        guard server.maxBodyBytes > 0 else { throw ConfigurationError("server.maxBodyBytes must be positive") }
        if let threads = server.eventLoopThreads, !(1...1024).contains(threads) {
            throw ConfigurationError("server.eventLoopThreads must be between 1 and 1024")
        }
        guard server.bodyTimeoutSeconds > 0 else { throw ConfigurationError("server.bodyTimeoutSeconds must be positive") }
        guard (1...64).contains(server.canonicalThreads) else { throw ConfigurationError("server.canonicalThreads must be between 1 and 64") }
        guard server.idleTimeoutSeconds > 0 else { throw ConfigurationError("server.idleTimeoutSeconds must be positive") }
        guard server.headerTimeoutSeconds > 0 else { throw ConfigurationError("server.headerTimeoutSeconds must be positive") }
        guard server.lingerSeconds > 0 else { throw ConfigurationError("server.lingerSeconds must be positive") }
        if let bytes = server.lingerBytes, bytes <= 0 { throw ConfigurationError("server.lingerBytes must be positive") }
        guard server.maxInFlightBodyBytes >= server.maxBodyBytes else {
            throw ConfigurationError("server.maxInFlightBodyBytes must be at least server.maxBodyBytes (\(server.maxBodyBytes))")
        }
        guard server.maxInFlightBodyBytesPerKey >= server.maxBodyBytes else {
            throw ConfigurationError("server.maxInFlightBodyBytesPerKey must be at least server.maxBodyBytes (\(server.maxBodyBytes))")
        }
        guard server.rateLimitPerSecond >= 0 else { throw ConfigurationError("server.rateLimitPerSecond must not be negative") }
        guard storage.memoryBytes >= 0 else { throw ConfigurationError("storage.memoryBytes must not be negative") }
        guard storage.preloadBytes >= 0 else { throw ConfigurationError("storage.preloadBytes must not be negative") }
        guard storage.recordRetentionDays >= 0, storage.countRetentionDays >= 0 else {
            throw ConfigurationError("storage.recordRetentionDays and storage.countRetentionDays must not be negative (0 keeps forever)")
        }
        if storage.recordRetentionDays > 0,
           storage.countRetentionDays == 0 || storage.countRetentionDays > storage.recordRetentionDays {
            throw ConfigurationError("storage.recordRetentionDays must be at least storage.countRetentionDays (set both): billing records outlive hit counts")
        }
        if let cache = storage.cache, !["redis://", "rediss://", "redis-cluster://"].contains(where: cache.hasPrefix) {
            throw ConfigurationError("storage.cache must be a redis://, rediss:// or redis-cluster:// URL")
        }
        if let ledger = storage.ledger, !["postgres://", "postgresql://"].contains(where: ledger.hasPrefix) {
            throw ConfigurationError("storage.ledger must be a postgres:// URL")
        }
        guard !tasks.isEmpty else { throw ConfigurationError("tasks: at least one task is needed") }
        try tracing.validate()
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw ConfigurationError("logLevel '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        var routes = Set<String>()
        var names = Set<String>()
        for task in tasks {
            let where_ = "tasks[\(task.name)]"
            guard !task.name.isEmpty, task.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigurationError("\(where_).name must be letters, digits, '-' or '_'")
            }
            guard names.insert(task.name).inserted else { throw ConfigurationError("\(where_): two tasks are named '\(task.name)'") }
            let route = task.effectiveRoute
            guard route.hasPrefix("/"), route != "/" else { throw ConfigurationError("\(where_).route '\(route)' must start with '/' and name a path") }
            guard !["/healthz", "/readyz", "/metrics"].contains(route), !route.hasPrefix("/v1/"), !route.hasPrefix("/admin/") else {
                throw ConfigurationError("\(where_).route '\(route)' collides with one of Deja's own endpoints")
            }
            guard routes.insert(route).inserted else { throw ConfigurationError("\(where_).route '\(route)' is used by two tasks") }
            guard TaskProtocols.named(task.protocol) != nil else {
                throw ConfigurationError(
                    "\(where_).protocol '\(task.protocol)' is not supported; supported: \(TaskProtocols.names.joined(separator: ", "))")
            }
            if let health = task.health, !health.hasPrefix("/"), !task.upstreams.isEmpty {
                throw ConfigurationError("\(where_).health must be a path such as /health when the task has several upstreams")
            }
            guard task.healthCheckSeconds >= 0 else { throw ConfigurationError("\(where_).healthCheckSeconds must not be negative") }
            guard (0...1).contains(task.breakerErrorRate) else { throw ConfigurationError("\(where_).breakerErrorRate must be between 0 and 1") }
            guard task.breakerWindow >= 1 else { throw ConfigurationError("\(where_).breakerWindow must be at least 1") }
            for url in [task.upstream] + task.upstreams + [task.health].compactMap({ $0 }).filter({ !$0.hasPrefix("/") }) {
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw ConfigurationError("\(where_): '\(url)' is not an http(s) URL")
                }
            }
            guard task.ttlSeconds > 0 else { throw ConfigurationError("\(where_).ttlSeconds must be positive") }
            guard task.timeoutSeconds > 0 else { throw ConfigurationError("\(where_).timeoutSeconds must be positive") }
            guard task.hitPrice >= 0, task.hitPrice <= 1 else { throw ConfigurationError("\(where_).hitPrice must be between 0 and 1") }
            guard (0...0.5).contains(task.ttlJitter) else { throw ConfigurationError("\(where_).ttlJitter must be between 0 and 0.5") }
            for (name, value) in [("negativeTTLSeconds", task.negativeTTLSeconds), ("staleWhileRevalidateSeconds", task.staleWhileRevalidateSeconds),
                                  ("staleIfErrorSeconds", task.staleIfErrorSeconds), ("breakerOpenSeconds", task.breakerOpenSeconds)] where value < 0 {
                throw ConfigurationError("\(where_).\(name) must not be negative")
            }
            guard task.maxConcurrency >= 1 else { throw ConfigurationError("\(where_).maxConcurrency must be at least 1") }
            guard task.maxQueue >= 0 else { throw ConfigurationError("\(where_).maxQueue must not be negative") }
            guard task.breakerFailures >= 1 else { throw ConfigurationError("\(where_).breakerFailures must be at least 1") }
            guard task.breakerMinimumTenants >= 1 else { throw ConfigurationError("\(where_).breakerMinimumTenants must be at least 1") }
            guard task.failureTTLSeconds >= 0 else { throw ConfigurationError("\(where_).failureTTLSeconds must not be negative") }
            if let perTenant = task.maxQueuePerTenant, perTenant < 1 {
                throw ConfigurationError("\(where_).maxQueuePerTenant must be at least 1")
            }
            guard ["shared", "tenant"].contains(task.scope) else { throw ConfigurationError("\(where_).scope must be 'shared' or 'tenant'") }
            guard ["nfc", "nfkc", "none"].contains(task.textNormalization) else {
                throw ConfigurationError("\(where_).textNormalization must be 'nfc', 'nfkc' or 'none'")
            }
            for (field, rule) in task.textRules where !["nfc", "nfkc", "none"].contains(rule.form) {
                throw ConfigurationError("\(where_).textRules.\(field).form must be 'nfc', 'nfkc' or 'none'")
            }
            for (name, action) in task.sensitive {
                guard SensitiveKind(rawValue: name) != nil else {
                    throw ConfigurationError(
                        "\(where_).sensitive.\(name) is not a detector; detectors: \(SensitiveKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard SensitivePolicy.Action(rawValue: action) != nil else {
                    throw ConfigurationError("\(where_).sensitive.\(name) must be 'store', 'redact' or 'skip'")
                }
            }
            guard ["billed", "all"].contains(task.usage.records) else {
                throw ConfigurationError("\(where_).usage.records must be 'billed' or 'all'")
            }
            guard ["refuse", "forward"].contains(task.fileURLs) else {
                throw ConfigurationError("\(where_).fileURLs must be 'refuse' or 'forward'")
            }
            if let rule = task.textRule, !["nfc", "nfkc", "none"].contains(rule.form) {
                throw ConfigurationError("\(where_).textRule.form must be 'nfc', 'nfkc' or 'none'")
            }
            guard task.maxTextBytes >= 1 else { throw ConfigurationError("\(where_).maxTextBytes must be at least 1") }
            guard !task.model.name.isEmpty, !task.model.version.isEmpty else {
                throw ConfigurationError("\(where_).model needs a name and a version")
            }
            if let candidate = task.candidate { try Self.validate(candidate, of: task, at: where_ + ".candidate") }
        }
    }

    /// Checks a gray release's candidate: a version of its own, fractions in range, model servers.
    private static func validate(_ candidate: Candidate, of task: Task, at where_: String) throws {
        guard !candidate.modelVersion.isEmpty else { throw ConfigurationError("\(where_).modelVersion must not be empty") }
        guard candidate.modelVersion != task.model.version else {
            throw ConfigurationError(
                "\(where_).modelVersion '\(candidate.modelVersion)' is the task's own model version; a candidate needs another (or promote it: see docs/operations.md)")
        }
        guard (0...1).contains(candidate.fraction) else { throw ConfigurationError("\(where_).fraction must be between 0 and 1") }
        guard (0...1).contains(candidate.shadow) else { throw ConfigurationError("\(where_).shadow must be between 0 and 1") }
        guard candidate.maxShadowCalls >= 1 else { throw ConfigurationError("\(where_).maxShadowCalls must be at least 1") }
        for url in [candidate.upstream] + candidate.upstreams {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ConfigurationError("\(where_): '\(url)' is not an http(s) URL")
            }
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing setting '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "setting '\(path(context.codingPath))' should be a \(type)"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
