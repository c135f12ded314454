import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// An in-process OpenTelemetry collector on loopback: it takes OTLP/HTTP protobuf exports at
/// `POST /v1/traces`, keeps the raw bytes of each and decodes the spans in them (``OTLPSpan``).
final class CollectorStub: Sendable {
    private let exports = Mutex<[[UInt8]]>([])
    private let task: Task<Void, any Error>
    /// The port it listens on (127.0.0.1).
    let port: Int

    /// The URL to set as `tracing.endpoint`.
    var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }
    /// The body of every export received, in order.
    var rawExports: [[UInt8]] { exports.withLock { $0 } }

    /// Every span received, decoded.
    func spans() throws -> [OTLPSpan] {
        try rawExports.flatMap(OTLPSpan.decode(export:))
    }

    /// `service.name` of every export's resources.
    func serviceNames() throws -> Set<String> {
        Set(try rawExports.flatMap(OTLPSpan.serviceNames(export:)))
    }

    private init(port: Int, task: Task<Void, any Error>) {
        self.port = port
        self.task = task
    }

    /// Starts a collector on a free port; ``stop()`` ends it.
    static func start() async throws -> CollectorStub {
        let box = Mutex<CollectorStub?>(nil)
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            guard request.headers[.contentType] == "application/x-protobuf", let stub = box.withLock({ $0 }) else {
                return Response(status: .unsupportedMediaType)
            }
            stub.exports.withLock { $0.append(Array(buffer: body)) }
            // An empty ExportTraceServiceResponse: full success.
            return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: ByteBuffer()))
        }
        let (port, task) = try await LoopbackServer.start(router, label: "collector-stub")
        let stub = CollectorStub(port: port, task: task)
        box.withLock { $0 = stub }
        return stub
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// A span as an OTLP/HTTP export carries it (`opentelemetry.proto.trace.v1.Span`), read with a
/// minimal protobuf reader: the fields the tests look at, attribute values as text.
struct OTLPSpan: Sendable, CustomStringConvertible {
    enum Kind: Int, Sendable { case unspecified = 0, `internal`, server, client, producer, consumer }

    var traceID: String
    var spanID: String
    /// Empty for a root span.
    var parentSpanID: String
    var name: String
    var kind: Kind
    var attributes: [String: String]
    /// Names of the span's events (`exception` for a recorded error).
    var events: [String]
    /// 0 unset, 1 ok, 2 error.
    var statusCode: Int

    var description: String {
        let attributes = attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        return "\(name) [\(kind)] trace=\(traceID.prefix(8)) span=\(spanID.prefix(8)) parent=\(parentSpanID.prefix(8)) \(attributes)"
    }

    struct DecodingFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// The spans of one `ExportTraceServiceRequest`.
    static func decode(export bytes: [UInt8]) throws -> [OTLPSpan] {
        var spans: [OTLPSpan] = []
        for resourceSpans in try ProtoReader.messages(1, in: bytes[...]) {
            for scopeSpans in try ProtoReader.messages(2, in: resourceSpans) {
                for span in try ProtoReader.messages(2, in: scopeSpans) {
                    spans.append(try OTLPSpan(span))
                }
            }
        }
        return spans
    }

    /// The `service.name` of the resources of one export.
    static func serviceNames(export bytes: [UInt8]) throws -> [String] {
        try ProtoReader.messages(1, in: bytes[...]).flatMap { resourceSpans in
            try ProtoReader.messages(1, in: resourceSpans).compactMap { resource in try attributes(1, in: resource)["service.name"] }
        }
    }

    init(_ bytes: ArraySlice<UInt8>) throws {
        let fields = try ProtoReader.fields(bytes)
        func bytesField(_ number: Int) -> ArraySlice<UInt8> {
            for field in fields where field.number == number { if case .bytes(let value) = field.value { return value } }
            return []
        }
        func hex(_ bytes: ArraySlice<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        traceID = hex(bytesField(1))
        spanID = hex(bytesField(2))
        parentSpanID = hex(bytesField(4))
        name = String(decoding: bytesField(5), as: UTF8.self)
        var kindNumber = 0
        for field in fields where field.number == 6 { if case .varint(let value) = field.value { kindNumber = Int(value) } }
        kind = Kind(rawValue: kindNumber) ?? .unspecified
        attributes = try Self.attributes(9, in: bytes)
        events = try ProtoReader.messages(11, in: bytes).map { event in
            try ProtoReader.fields(event).compactMap { field -> String? in
                guard field.number == 2, case .bytes(let name) = field.value else { return nil }
                return String(decoding: name, as: UTF8.self)
            }.first ?? ""
        }
        statusCode = 0
        for status in try ProtoReader.messages(15, in: bytes) {
            for field in try ProtoReader.fields(status) where field.number == 3 {
                if case .varint(let code) = field.value { statusCode = Int(code) }
            }
        }
    }

    /// The `KeyValue` list in field `number` of a message, values as text.
    static func attributes(_ number: Int, in message: ArraySlice<UInt8>) throws -> [String: String] {
        var attributes: [String: String] = [:]
        for keyValue in try ProtoReader.messages(number, in: message) {
            var key = "", value = ""
            for field in try ProtoReader.fields(keyValue) {
                switch (field.number, field.value) {
                case (1, .bytes(let bytes)):
                    key = String(decoding: bytes, as: UTF8.self)
                case (2, .bytes(let anyValue)):
                    for part in try ProtoReader.fields(anyValue) {
                        switch (part.number, part.value) {
                        case (1, .bytes(let text)): value = String(decoding: text, as: UTF8.self)
                        case (2, .varint(let flag)): value = flag != 0 ? "true" : "false"
                        case (3, .varint(let integer)): value = String(Int64(bitPattern: integer))
                        case (4, .fixed64(let bits)): value = String(Double(bitPattern: bits))
                        default: break
                        }
                    }
                default:
                    break
                }
            }
            attributes[key] = value
        }
        return attributes
    }
}

/// The protobuf wire format, as far as OTLP traces need it.
enum ProtoReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    struct Field {
        var number: Int
        var value: Value
    }

    /// The top-level fields of a message, in order.
    static func fields(_ message: ArraySlice<UInt8>) throws -> [Field] {
        var fields: [Field] = []
        var index = message.startIndex
        func varint() throws -> UInt64 {
            var result: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard index < message.endIndex, shift < 64 else { throw OTLPSpan.DecodingFailure(description: "truncated varint") }
                let byte = message[index]
                index += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, message.endIndex - index >= count else { throw OTLPSpan.DecodingFailure(description: "truncated field") }
            defer { index += count }
            return message[index..<(index + count)]
        }
        func little(_ bytes: ArraySlice<UInt8>) -> UInt64 {
            bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        while index < message.endIndex {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: fields.append(Field(number: number, value: .varint(try varint())))
            case 1: fields.append(Field(number: number, value: .fixed64(little(try take(8)))))
            case 2: fields.append(Field(number: number, value: .bytes(try take(Int(try varint())))))
            case 5: fields.append(Field(number: number, value: .fixed32(UInt32(little(try take(4))))))
            default: throw OTLPSpan.DecodingFailure(description: "unsupported wire type \(key & 7)")
            }
        }
        return fields
    }

    /// The embedded messages in field `number`.
    static func messages(_ number: Int, in message: ArraySlice<UInt8>) throws -> [ArraySlice<UInt8>] {
        try fields(message).compactMap { field in
            guard field.number == number, case .bytes(let bytes) = field.value else { return nil }
            return bytes
        }
    }
}
