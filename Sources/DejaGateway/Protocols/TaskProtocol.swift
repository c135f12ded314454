import DejaCore
import NIOCore

/// A wire protocol that task routes speak: the seam between the gateway and a kind of model server.
///
/// A protocol owns everything that depends on the shape of its requests and answers: which request
/// members are files, which are required and which are per-request noise (``roles``); which requests it
/// refuses and in what words (``check(_:)``, ``requestError(_:body:)``); how a model's reply is read — an
/// answer to store, a rejection of the input (remembered for the negative TTL), or a failure
/// (``read(status:body:)``); what an answer is worth to the meter (``measure(_:forwardBody:)``); and how
/// answers and errors are written for the client, with the request's own id echoed where the protocol
/// does that (``echo(in:)``, ``render(stored:echo:)``, ``renderError(status:message:echo:)``).
/// The gateway's request path — keys, cache, single flight, billing — is the same for every protocol.
///
/// Adding a protocol is one conforming type plus its name in ``TaskProtocols/all``.
public protocol TaskProtocol: Sendable {
    /// The protocol's one name: `protocol:` in configuration, and part of every key's configuration hash.
    static var name: String { get }
    /// The roles the protocol gives top-level request members; a task's configuration may add more.
    var roles: MemberRoles { get }
    /// Checks a request the canonical form accepted, for what the roles cannot say (a member's type);
    /// throws the client's error naming the member. The default accepts every request.
    func check(_ request: CanonicalRequest) throws(GatewayError)
    /// The client's error for a body the canonical form refused (`body` is the request as it came).
    /// The default: 400 naming the field, 413 over a limit.
    func requestError(_ error: CanonicalError, body: ByteBuffer) -> GatewayError
    /// The request's own id that its answer echoes (PaddleX: a non-empty string `logId`); `nil` for none.
    /// Read from the raw body; the default echoes nothing.
    func echo(in body: ByteBuffer) -> String?
    /// Reads what the model server replied.
    func read(status: Int, body: ByteBuffer) -> ModelReply
    /// What an answer amounts to for the meter; `forwardBody` is what the model was sent.
    func measure(_ answer: ModelAnswer, forwardBody: [UInt8]) -> Measurement
    /// The least a request with this forward body can amount to: what a miss reserves before the call.
    func minimumMeasurement(forwardBody: [UInt8]) -> Measurement
    /// A stored answer (or rejection) as the client receives it, per-request noise filled in (`echo`,
    /// or a fresh id), as buffers written in order (the stored bytes are not copied).
    func render(stored: ByteBuffer, echo: String?) -> [ByteBuffer]
    /// An error in the protocol's envelope.
    func renderError(status: Int, message: String, echo: String?) -> ByteBuffer
    /// A request asking the model about one image file, given as base64 (`deja warm --images`); `nil`
    /// when the protocol takes no images. The default takes none.
    func imageRequest(base64: String) -> [UInt8]?
    /// What of an answer says what the model found, for comparing two model versions' answers in a
    /// gray release's shadow mode: without per-request fields (ids, timings, echoed settings) and
    /// scores, so that two answers are equal when they mean the same. The default: the whole answer.
    func comparable(_ answer: ModelAnswer) -> JSONValue
    /// For a request about a document the model answers page by page (a PDF, or an image as a page of
    /// one), the canonical form each page would have as a request of its own — the forward body's other
    /// members (the canonical form's with every declared default), its file replaced by what that page
    /// is — so that a page's answer is kept and found whatever document it came in (the page memo,
    /// docs/ARCHITECTURE.md). Images (pages of one, keyed on their pixels) only with `images`. `nil` for
    /// anything else, and wherever the file's reader is not sure what a page draws; cheap for a body that
    /// holds no document. The default: `nil`.
    func pageForms(forwardBody: [UInt8], limits: ImageLimits, images: Bool) -> [JSONValue]?
    /// For a document whose pages only the model server can render (a PDF), the path and body of a call
    /// that asks the server what each page renders as, without running the model; `nil` for anything
    /// else. The default: `nil`.
    func pixelsRequest(forwardBody: [UInt8]) -> (path: String, body: [UInt8])?
    /// The page forms keyed on what each page renders as, read from the answer to ``pixelsRequest(forwardBody:)``
    /// — the same forms an image of that page has in ``pageForms(forwardBody:limits:images:)``; `nil` if the
    /// answer is not one. The default: `nil`.
    func pixelForms(reply: [UInt8], forwardBody: [UInt8]) -> [JSONValue]?
    /// An answer to a document cut into what each page contributes, in page order, as stored pieces for
    /// ``assemble(pages:forwardBody:)``; `nil` if the answer is not one the protocol can cut. The default: `nil`.
    func pages(of answer: ModelAnswer) -> [ByteBuffer]?
    /// The answer the model gives to the document of `forwardBody`, whose pages are these (pieces from
    /// ``pages(of:)``, in order); `nil` if a piece is not one. The default: `nil`.
    func assemble(pages: [ByteBuffer], forwardBody: [UInt8]) -> ModelAnswer?
}

extension TaskProtocol {
    public func check(_ request: CanonicalRequest) throws(GatewayError) {}

    public func requestError(_ error: CanonicalError, body: ByteBuffer) -> GatewayError {
        GatewayError.badRequest(error)
    }

    public func echo(in body: ByteBuffer) -> String? { nil }

    public func imageRequest(base64: String) -> [UInt8]? { nil }
    public func comparable(_ answer: ModelAnswer) -> JSONValue { answer.value }
    public func pageForms(forwardBody: [UInt8], limits: ImageLimits, images: Bool) -> [JSONValue]? { nil }
    public func pixelsRequest(forwardBody: [UInt8]) -> (path: String, body: [UInt8])? { nil }
    public func pixelForms(reply: [UInt8], forwardBody: [UInt8]) -> [JSONValue]? { nil }
    public func pages(of answer: ModelAnswer) -> [ByteBuffer]? { nil }
    public func assemble(pages: [ByteBuffer], forwardBody: [UInt8]) -> ModelAnswer? { nil }

    public func minimumMeasurement(forwardBody: [UInt8]) -> Measurement {
        Measurement(pages: 1, labels: 1, inputBytes: Int64(forwardBody.count))
    }

    /// The protocol's name, from an instance.
    public var name: String { Self.name }
}

/// What the top-level members of a protocol's requests are to the model.
public struct MemberRoles: Sendable, Equatable {
    /// Members holding a file (base64, a data URI or a URL): keyed by content.
    public var binary: Set<String>
    /// Members that must be present and not `null`.
    public var required: Set<String>
    /// Per-request noise (ids, timestamps): never part of the key, never sent to the model.
    public var volatile: Set<String>

    public init(binary: Set<String> = [], required: Set<String> = [], volatile: Set<String> = []) {
        self.binary = binary
        self.required = required
        self.volatile = volatile
    }
}

/// A model's answer, checked and ready to store.
public struct ModelAnswer: Sendable {
    /// What is stored and replayed: the answer without its per-request noise.
    public var stored: ByteBuffer
    /// The parsed answer, for ``TaskProtocol/measure(_:forwardBody:)``.
    public var value: JSONValue

    public init(stored: ByteBuffer, value: JSONValue) {
        self.stored = stored
        self.value = value
    }
}

/// How a model server's reply reads, in a protocol's terms.
public enum ModelReply: Sendable {
    /// An answer.
    case answer(ModelAnswer)
    /// The model says this input is invalid, whoever sends it: `stored` (its error, without noise) may
    /// be remembered for the task's negative TTL.
    case rejected(status: Int, message: String, stored: ByteBuffer?)
    /// A refusal that depends on the moment or the caller (408, 409, 429, …): passed on, never remembered.
    case refused(status: Int, message: String)
    /// The model server failed (5xx, or a 200 that is not an answer).
    case failed(message: String)
}

/// The protocols Deja speaks, by configuration name.
public enum TaskProtocols {
    /// Every protocol; adding one is adding its type here.
    public static let all: [any TaskProtocol] = [PaddleXOCR(), PaddleXSentiment()]

    /// The protocol named `name` in configuration, if there is one.
    public static func named(_ name: String) -> (any TaskProtocol)? {
        all.first { $0.name == name }
    }

    /// The names, for error messages.
    public static var names: [String] { all.map(\.name) }
}
