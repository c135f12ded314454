import DejaCore
import Foundation
import NIOCore

/// The PaddleX basic-serving envelope: `{"logId","errorCode","errorMsg","result"}`, HTTP status = errorCode.
///
/// Answers are stored without their `logId`; every response gets a fresh one, so a volatile id is
/// never replayed.
public enum PaddleXProtocol {
    /// The protocol's name in configuration.
    public static let name = "paddlex-ocr"

    /// Member names the protocol itself treats as volatile in requests.
    public static let volatileFields: Set<String> = ["logId"]

    /// A model answer, checked and ready to store.
    public struct Answer: Sendable {
        /// The answer serialised without `logId`; always a JSON object.
        public var stored: ByteBuffer
        /// The parsed answer, for meters.
        public var value: JSONValue
    }

    /// Reads a 200 answer from the model server.
    ///
    /// - Throws: `upstreamFailed` when it is not a PaddleX envelope or reports an error code.
    public static func readAnswer(_ body: ByteBuffer) throws(GatewayError) -> Answer {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: body)
        } catch {
            throw GatewayError(.upstreamFailed, "the model server's answer is not valid JSON")
        }
        guard case .object(let members) = value else {
            throw GatewayError(.upstreamFailed, "the model server's answer is not a JSON object")
        }
        if let code = members.first(where: { $0.key == "errorCode" })?.value,
           case .number(let number) = code, number.description != "0" {
            throw GatewayError(.upstreamFailed, "the model server reported errorCode \(number.description)")
        }
        let kept = JSONValue.object(members.filter { $0.key != "logId" })
        var stored = ByteBuffer()
        stored.writeBytes(kept.serialized())
        return Answer(stored: stored, value: kept)
    }

    /// A model's error envelope ready to store as a rejection (without `logId`), if the body is one.
    public static func storedError(_ body: ByteBuffer) -> ByteBuffer? {
        guard let value = try? JSONValue(parsing: body), case .object(let members) = value,
              members.contains(where: { $0.key == "errorCode" })
        else { return nil }
        var stored = ByteBuffer()
        stored.writeBytes(JSONValue.object(members.filter { $0.key != "logId" }).serialized())
        return stored
    }

    /// The message a PaddleX error envelope carries, if the body is one.
    public static func errorMessage(in body: ByteBuffer) -> String? {
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

    /// A new log id, spelled like PaddleX's (a UUID: 8-4-4-4-12 lowercase hex digits).
    ///
    /// Unique per process and across processes: a random 64-bit prefix drawn at start and a 64-bit
    /// counter. Cheap on the hit path: no system call and no string formatting.
    public static func newLogId() -> String {
        LogIdGenerator.shared.next()
    }
}
