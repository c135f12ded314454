import DejaCore
import NIOCore

/// The PaddleX basic-serving envelope, shared by the PaddleX protocols:
/// `{"logId","errorCode","errorMsg","result"}`, with HTTP status = errorCode.
///
/// Answers are stored byte for byte as the model wrote them, without their `logId`; every response
/// gets a fresh one, so a volatile id is never replayed.
public enum PaddleXEnvelope {
    /// Per-request noise in PaddleX requests and answers.
    public static let logId = "logId"

    /// Model statuses that say the input itself is invalid, whoever sends it: remembered for the
    /// task's negative TTL. Others (408, 409, 429, …) depend on the moment or the caller and are not.
    public static let rejectionStatuses: Set<Int> = [400, 413, 415, 422]

    /// Reads a reply in the envelope; `checkResult` judges a 200's `result` (nil: it is an answer).
    public static func read(status: Int, body: ByteBuffer, checkResult: (JSONValue?) -> String?) -> ModelReply {
        guard status == 200 else {
            let message = errorMessage(in: body) ?? "no message"
            switch status {
            case 400..<500 where rejectionStatuses.contains(status):
                return .rejected(status: status, message: message, stored: storedError(body))
            case 400..<500:
                return .refused(status: status, message: message)
            default:
                return .failed(message: "the model server failed with status \(status): \(message)")
            }
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: body)
        } catch {
            return .failed(message: "the model server's answer is not valid JSON")
        }
        guard case .object(let members) = value else {
            return .failed(message: "the model server's answer is not a JSON object")
        }
        if case .number(let code)? = members.first(where: { $0.key == "errorCode" })?.value, code.description != "0" {
            return .failed(message: "the model server reported errorCode \(code.description)")
        }
        if let problem = checkResult(value["result"]) {
            return .failed(message: "the model server's answer is not one: \(problem)")
        }
        // Stored as the model wrote it (numbers, escapes, member order), only without its logId.
        guard let kept = JSONMembers.object(body, dropping: [logId]) else {
            return .failed(message: "the model server's answer is not a JSON object")
        }
        return .answer(ModelAnswer(stored: ByteBuffer(bytes: kept), value: .object(members.filter { $0.key != logId })))
    }

    /// A model's error envelope ready to store as a rejection (without `logId`), if the body is one.
    static func storedError(_ body: ByteBuffer) -> ByteBuffer? {
        guard let value = try? JSONValue(parsing: body), case .object(let members) = value,
              members.contains(where: { $0.key == "errorCode" })
        else { return nil }
        return JSONMembers.object(body, dropping: [logId]).map { ByteBuffer(bytes: $0) }
    }

    /// The message a PaddleX error envelope carries, if the body is one.
    static func errorMessage(in body: ByteBuffer) -> String? {
        guard let value = try? JSONValue(parsing: body), case .object(let members) = value,
              case .string(let message)? = members.first(where: { $0.key == "errorMsg" })?.value
        else { return nil }
        return message
    }

    /// A stored answer with a fresh `logId` in front, as buffers to write in order (no copy of the answer).
    public static func render(stored: ByteBuffer, logId: String) -> [ByteBuffer] {
        var head = ByteBuffer()
        head.reserveCapacity(64)
        head.writeString("{\"logId\":\"")
        head.writeString(logId)
        var rest = stored
        rest.moveReaderIndex(forwardBy: 1)  // past the stored object's "{"
        if rest.readableBytes > 1 {
            head.writeString("\",")
        } else {
            head.writeString("\"")
        }
        return [head, rest]
    }

    /// An error envelope: `{"logId","errorCode","errorMsg"}` with errorCode = the HTTP status.
    public static func renderError(status: Int, message: String, logId: String) -> ByteBuffer {
        let value = JSONValue.object([
            (key: "logId", value: .string(logId)),
            (key: "errorCode", value: .number(JSONNumber(status))),
            (key: "errorMsg", value: .string(message)),
        ])
        var buffer = ByteBuffer()
        buffer.writeBytes(value.serialized())
        return buffer
    }

    /// The `logId` PaddleX's server echoes (its `_try_get_log_id`): a non-empty string `logId` member of
    /// a body that is a JSON object — which the caller knows: it reads only bodies that parsed. Linear
    /// in the body, without copying it.
    public static func echo(in body: ByteBuffer) -> String? {
        let id = JSONMembers.value(of: logId, in: body)?.stringValue
        guard let id, !id.isEmpty else { return nil }
        return id
    }

    /// A new log id: a version-4 UUID, as PaddleX's (see ``LogIdGenerator``).
    public static func newLogId() -> String {
        LogIdGenerator.shared.next()
    }
}

/// A protocol whose answers and errors wear the PaddleX envelope: the request's `logId` echoed as
/// PaddleX echoes it, otherwise a fresh one.
public protocol PaddleXEnveloped: TaskProtocol {}

extension PaddleXEnveloped {
    public func echo(in body: ByteBuffer) -> String? {
        PaddleXEnvelope.echo(in: body)
    }

    public func render(stored: ByteBuffer, echo: String?) -> [ByteBuffer] {
        PaddleXEnvelope.render(stored: stored, logId: echo ?? PaddleXEnvelope.newLogId())
    }

    public func renderError(status: Int, message: String, echo: String?) -> ByteBuffer {
        PaddleXEnvelope.renderError(status: status, message: message, logId: echo ?? PaddleXEnvelope.newLogId())
    }
}
