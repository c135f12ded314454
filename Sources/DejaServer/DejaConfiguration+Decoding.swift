import Foundation

/// Decoding with defaults for every missing field, and a clear error for a field nobody reads
/// (a typo in a configuration file should not silently fall back to a default).
extension KeyedDecodingContainer where Key == AnyCodingKey {
    func value<T: Decodable>(_ name: String, default fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: AnyCodingKey(stringValue: name)) ?? fallback
    }

    func optional<T: Decodable>(_ name: String) throws -> T? {
        try decodeIfPresent(T.self, forKey: AnyCodingKey(stringValue: name))
    }

    func required<T: Decodable>(_ name: String) throws -> T {
        try decode(T.self, forKey: AnyCodingKey(stringValue: name))
    }

    /// `upstream` and `upstreams`: `upstream` names the first model server; with only `upstreams`, the
    /// first of those is it.
    func upstreams() throws -> (first: String, more: [String]) {
        var more: [String] = try value("upstreams", default: [])
        if let upstream: String = try optional("upstream") { return (upstream, more) }
        if !more.isEmpty { return (more.removeFirst(), more) }
        return (try required("upstream"), [])  // the usual "missing setting" error
    }

    func rejectUnknown(_ known: Set<String>) throws {
        for key in allKeys where !known.contains(key.stringValue) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription: "unknown setting '\(key.stringValue)'; known settings here: \(known.sorted().joined(separator: ", "))"
            )
        }
    }
}

extension DejaConfiguration {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        for secret in ["sealSecrets", "sealSecret", "secrets"] where c.contains(AnyCodingKey(stringValue: secret)) {
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey(stringValue: secret), in: c,
                debugDescription: "seal secrets never go in the configuration file; set DEJA_SEAL_SECRETS_FILE to a file readable only by the gateway")
        }
        try c.rejectUnknown(["server", "storage", "adminToken", "logLevel", "tasks", "tracing"])
        self.init()
        server = try c.value("server", default: server)
        storage = try c.value("storage", default: storage)
        adminToken = try c.optional("adminToken")
        logLevel = try c.value("logLevel", default: logLevel)
        tasks = try c.value("tasks", default: tasks)
        tracing = try c.value("tracing", default: tracing)
    }
}

extension DejaConfiguration.Server {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown([
            "host", "port", "maxBodyBytes", "bodyTimeoutSeconds", "rateLimitPerSecond", "rateLimitBurst", "fastPath", "plainHits", "eventLoopThreads",
            "canonicalThreads", "idleTimeoutSeconds", "headerTimeoutSeconds", "maxInFlightBodyBytes", "maxInFlightBodyBytesPerKey",
            "lingerSeconds", "lingerBytes",
        ])
        self.init()
        host = try c.value("host", default: host)
        port = try c.value("port", default: port)
        maxBodyBytes = try c.value("maxBodyBytes", default: maxBodyBytes)
        bodyTimeoutSeconds = try c.value("bodyTimeoutSeconds", default: bodyTimeoutSeconds)
        rateLimitPerSecond = try c.value("rateLimitPerSecond", default: rateLimitPerSecond)
        rateLimitBurst = try c.optional("rateLimitBurst")
        fastPath = try c.value("fastPath", default: fastPath)
        plainHits = try c.value("plainHits", default: plainHits)
        eventLoopThreads = try c.optional("eventLoopThreads")
        canonicalThreads = try c.value("canonicalThreads", default: canonicalThreads)
        idleTimeoutSeconds = try c.value("idleTimeoutSeconds", default: idleTimeoutSeconds)
        headerTimeoutSeconds = try c.value("headerTimeoutSeconds", default: headerTimeoutSeconds)
        maxInFlightBodyBytes = try c.value("maxInFlightBodyBytes", default: maxInFlightBodyBytes)
        maxInFlightBodyBytesPerKey = try c.value("maxInFlightBodyBytesPerKey", default: maxInFlightBodyBytesPerKey)
        lingerSeconds = try c.value("lingerSeconds", default: lingerSeconds)
        lingerBytes = try c.optional("lingerBytes")
    }
}

extension DejaConfiguration.UsageConfig {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown(["records"])
        self.init()
        records = try c.value("records", default: records)
    }
}

extension DejaConfiguration.TextRuleConfig {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown(["form", "trim", "collapseWhitespace", "foldCase", "cjkSpacing"])
        self.init()
        form = try c.value("form", default: form)
        trim = try c.value("trim", default: trim)
        collapseWhitespace = try c.value("collapseWhitespace", default: collapseWhitespace)
        foldCase = try c.value("foldCase", default: foldCase)
        cjkSpacing = try c.value("cjkSpacing", default: cjkSpacing)
    }
}

extension DejaConfiguration.Storage {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown(["path", "memoryBytes", "persistent", "writeBehind", "cache", "ledger", "preloadBytes", "recordRetentionDays", "countRetentionDays"])
        self.init()
        path = try c.value("path", default: path)
        memoryBytes = try c.value("memoryBytes", default: memoryBytes)
        persistent = try c.value("persistent", default: persistent)
        writeBehind = try c.value("writeBehind", default: writeBehind)
        cache = try c.optional("cache")
        ledger = try c.optional("ledger")
        preloadBytes = try c.value("preloadBytes", default: preloadBytes)
        recordRetentionDays = try c.value("recordRetentionDays", default: recordRetentionDays)
        countRetentionDays = try c.value("countRetentionDays", default: countRetentionDays)
    }
}

extension DejaConfiguration.MeterConfig {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown(["perRequest", "perPage", "perOutputCharacter", "perLabel", "perInputKiB", "perInputCharacter", "perModelToken"])
        self.init(
            perRequest: try c.optional("perRequest"),
            perPage: try c.optional("perPage"),
            perOutputCharacter: try c.optional("perOutputCharacter"),
            perLabel: try c.optional("perLabel"),
            perInputKiB: try c.optional("perInputKiB"),
            perInputCharacter: try c.optional("perInputCharacter"),
            perModelToken: try c.optional("perModelToken")
        )
    }
}

extension DejaConfiguration.Task {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown([
            "name", "route", "protocol", "upstream", "health", "timeoutSeconds", "model", "ttlSeconds",
            "volatileFields", "defaults", "binaryFields", "requiredFields", "textNormalization", "meter",
            "hitPrice", "scope", "ttlJitter", "negativeTTLSeconds", "staleWhileRevalidateSeconds", "staleIfErrorSeconds",
            "maxConcurrency", "maxQueue", "breakerFailures", "breakerOpenSeconds", "textRules",
            "upstreams", "healthCheckSeconds", "breakerErrorRate", "breakerWindow", "hitsPastBudget",
            "breakerMinimumTenants", "failureTTLSeconds", "maxQueuePerTenant", "noCacheReplacesShared", "pageMemo", "pageMemoImages", "maxTextBytes", "fileURLs", "sensitive",
            "textRule", "candidate", "usage",
        ])
        let (first, more) = try c.upstreams()
        self.init(name: try c.required("name"), upstream: first, model: try c.required("model"))
        upstreams = more
        healthCheckSeconds = try c.value("healthCheckSeconds", default: healthCheckSeconds)
        breakerErrorRate = try c.value("breakerErrorRate", default: breakerErrorRate)
        breakerWindow = try c.value("breakerWindow", default: breakerWindow)
        route = try c.optional("route")
        `protocol` = try c.value("protocol", default: `protocol`)
        health = try c.optional("health")
        timeoutSeconds = try c.value("timeoutSeconds", default: timeoutSeconds)
        ttlSeconds = try c.value("ttlSeconds", default: ttlSeconds)
        volatileFields = try c.value("volatileFields", default: volatileFields)
        defaults = try c.value("defaults", default: defaults)
        binaryFields = try c.value("binaryFields", default: binaryFields)
        requiredFields = try c.value("requiredFields", default: requiredFields)
        textNormalization = try c.value("textNormalization", default: textNormalization)
        textRule = try c.optional("textRule")
        if textRule != nil, c.contains(AnyCodingKey(stringValue: "textNormalization")) {
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey(stringValue: "textRule"), in: c,
                debugDescription: "set either textNormalization or textRule (whose form replaces it), not both"
            )
        }
        textRules = try c.value("textRules", default: textRules)
        maxTextBytes = try c.value("maxTextBytes", default: maxTextBytes)
        meter = try c.value("meter", default: meter)
        hitPrice = try c.value("hitPrice", default: hitPrice)
        hitsPastBudget = try c.value("hitsPastBudget", default: hitsPastBudget)
        scope = try c.value("scope", default: scope)
        ttlJitter = try c.value("ttlJitter", default: ttlJitter)
        negativeTTLSeconds = try c.value("negativeTTLSeconds", default: negativeTTLSeconds)
        staleWhileRevalidateSeconds = try c.value("staleWhileRevalidateSeconds", default: staleWhileRevalidateSeconds)
        staleIfErrorSeconds = try c.value("staleIfErrorSeconds", default: staleIfErrorSeconds)
        maxConcurrency = try c.value("maxConcurrency", default: maxConcurrency)
        maxQueue = try c.value("maxQueue", default: maxQueue)
        breakerFailures = try c.value("breakerFailures", default: breakerFailures)
        breakerOpenSeconds = try c.value("breakerOpenSeconds", default: breakerOpenSeconds)
        breakerMinimumTenants = try c.value("breakerMinimumTenants", default: breakerMinimumTenants)
        failureTTLSeconds = try c.value("failureTTLSeconds", default: failureTTLSeconds)
        maxQueuePerTenant = try c.optional("maxQueuePerTenant")
        noCacheReplacesShared = try c.value("noCacheReplacesShared", default: noCacheReplacesShared)
        pageMemo = try c.value("pageMemo", default: pageMemo)
        pageMemoImages = try c.value("pageMemoImages", default: pageMemoImages)
        fileURLs = try c.value("fileURLs", default: fileURLs)
        sensitive = try c.value("sensitive", default: sensitive)
        candidate = try c.optional("candidate")
        usage = try c.value("usage", default: usage)
    }
}

extension DejaConfiguration.Candidate {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        try c.rejectUnknown(["modelVersion", "upstream", "upstreams", "fraction", "shadow", "maxShadowCalls"])
        let (first, more) = try c.upstreams()
        self.init(modelVersion: try c.required("modelVersion"), upstream: first)
        upstreams = more
        fraction = try c.value("fraction", default: fraction)
        shadow = try c.value("shadow", default: shadow)
        maxShadowCalls = try c.value("maxShadowCalls", default: maxShadowCalls)
    }
}
