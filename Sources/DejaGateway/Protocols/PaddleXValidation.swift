import DejaCore
import NIOCore

/// PaddleX's answers to the requests its server refuses, as PaddleX 3.7.2 gives them: FastAPI parses
/// the body and pydantic validates it against the pipeline's request model in lax mode; a refusal is
/// 422 whose `errorMsg` is the JSON list of `{"type", "loc", "msg"}` problems (Python's `json.dumps`:
/// `", "` and `": "` separators, non-ASCII escaped), in the model's field order. The literal bodies are in
/// tests/conformance/FINDINGS.md §4; tests/integration/test_paddlex_conformance.py checks them against
/// PaddleX's own models.
///
/// Deja's own words for the same refusal (naming the JSON path and what to do) go in the
/// `x-deja-error` header (``GatewayError/detail``).
enum PaddleXValidation {
    /// A member's type in a request model: what pydantic's lax mode accepts for it.
    enum FieldType {
        case string, bool, int, float
        /// `Literal[0, 1]` (PaddleX's `fileType`).
        case zeroOrOne
    }

    /// One problem, as pydantic reports it.
    struct Problem: Equatable {
        var type: String
        var loc: String
        var msg: String
    }

    /// The 422 for `problems`, with Deja's own `detail`.
    static func refusal(_ problems: [Problem], detail: String) -> GatewayError {
        var error = GatewayError(.badRequest, render(problems), status: 422)
        error.detail = detail
        return error
    }

    /// `json.dumps` of the problem list.
    static func render(_ problems: [Problem]) -> String {
        "[" + problems.map { problem in
            "{\"type\": \(pythonString(problem.type)), \"loc\": \(pythonString(problem.loc)), \"msg\": \(pythonString(problem.msg))}"
        }.joined(separator: ", ") + "]"
    }

    /// A string as Python's `json.dumps` writes it (`ensure_ascii=True`).
    static func pythonString(_ text: String) -> String {
        var out = "\""
        for unit in text.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default:
                let hex = String(unit, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
        }
        return out + "\""
    }

    /// The problems with the members of `fields` in `request` (a JSON object), in the order of `fields`.
    /// Members absent or `null` are fine: every field but the required ones is optional.
    static func problems(in request: JSONValue, fields: [(name: String, type: FieldType)]) -> [Problem] {
        fields.compactMap { field in
            guard let value = request[field.name], !value.isNull else { return nil }
            return problem(value, type: field.type).map { Problem(type: $0.type, loc: "body.\(field.name)", msg: $0.msg) }
        }
    }

    /// What pydantic's lax mode says about `value` for a field of `type` (nil: accepted).
    static func problem(_ value: JSONValue, type: FieldType) -> (type: String, msg: String)? {
        switch type {
        case .string:
            return value.stringValue != nil ? nil : ("string_type", "Input should be a valid string")
        case .bool:
            switch value {
            case .bool: return nil
            case .number(let number):
                return number.doubleValue == 0 || number.doubleValue == 1 ? nil : boolParsing
            case .string(let text):
                let allowed: Set<String> = ["0", "off", "f", "false", "n", "no", "1", "on", "t", "true", "y", "yes"]
                return allowed.contains(text.lowercased()) ? nil : boolParsing
            default:
                return ("bool_type", "Input should be a valid boolean")
            }
        case .int:
            switch value {
            case .bool: return nil
            case .number(let number):
                let double = number.doubleValue
                guard double.isFinite else { return ("int_parsing", intParsingMessage) }
                return double.rounded(.towardZero) == double ? nil
                    : ("int_from_float", "Input should be a valid integer, got a number with a fractional part")
            case .string(let text):
                let trimmed = text.trimmingSpaces
                let digits = trimmed.hasPrefix("-") || trimmed.hasPrefix("+") ? trimmed.dropFirst() : Substring(trimmed)
                return !digits.isEmpty && digits.allSatisfy(\.isASCIIDigit) ? nil : ("int_parsing", intParsingMessage)
            default:
                return ("int_type", "Input should be a valid integer")
            }
        case .float:
            switch value {
            case .bool, .number: return nil
            case .string(let text):
                return Double(text.trimmingSpaces) != nil ? nil
                    : ("float_parsing", "Input should be a valid number, unable to parse string as a number")
            default:
                return ("float_type", "Input should be a valid number")
            }
        case .zeroOrOne:
            switch value {
            case .bool: return nil
            case .number(let number) where number.doubleValue == 0 || number.doubleValue == 1: return nil
            default: return ("literal_error", "Input should be 0 or 1")
            }
        }
    }

    /// Whether the body (a valid JSON object) has the member `name` set to `null`.
    static func isNull(_ name: String, in body: ByteBuffer) -> Bool {
        JSONMembers.value(of: name, in: body)?.isNull == true
    }

    private static let boolParsing = ("bool_parsing", "Input should be a valid boolean, unable to interpret input")
    private static let intParsingMessage = "Input should be a valid integer, unable to parse string as an integer"

    /// PaddleX's answer to a body the canonical form refused, or `nil` where Deja keeps its own answer
    /// (limits, duplicate members: PaddleX would take the last of them, Deja refuses the ambiguity).
    static func refusal(for error: CanonicalError, body: ByteBuffer, required: String) -> GatewayError? {
        let detail = GatewayError.badRequest(error).message
        switch error.code {
        case .emptyBody:
            return refusal([Problem(type: "missing", loc: "body", msg: "Field required")], detail: detail)
        case .invalidJSON, .invalidEscape:
            // Python's JSONDecodeError.pos: an index into the decoded text, in code points.
            let offset = min(error.offset ?? 0, body.readableBytes)
            let position = body.getString(at: body.readerIndex, length: offset)?.unicodeScalars.count ?? offset
            return refusal([Problem(type: "json_invalid", loc: "body[\(position)]", msg: "JSON decode error")], detail: detail)
        case .invalidUTF8:
            var refusal = GatewayError(.badRequest, "There was an error parsing the body", status: 400)
            refusal.detail = detail
            return refusal
        case .notAnObject:
            return refusal([Problem(type: "model_attributes_type", loc: "body",
                                    msg: "Input should be a valid dictionary or object to extract fields from")], detail: detail)
        case .missingField where error.path == "$.\(required)" && isNull(required, in: body):
            // `null` is not a string to pydantic, whereas Deja reads it as "left out".
            return refusal([Problem(type: "string_type", loc: "body.\(required)", msg: "Input should be a valid string")], detail: detail)
        case .missingField where error.path == "$.\(required)":
            return refusal([Problem(type: "missing", loc: "body.\(required)", msg: "Field required")], detail: detail)
        case .wrongType where error.path == "$.\(required)":
            return refusal([Problem(type: "string_type", loc: "body.\(required)", msg: "Input should be a valid string")], detail: detail)
        case .invalidBase64:
            var refusal = GatewayError(.upstreamRejected, "Invalid input file", status: 422)
            refusal.detail = detail
            return refusal
        default:
            return nil
        }
    }
}

extension String {
    /// Without leading and trailing ASCII white space (as Python's `str.strip()` for these inputs).
    fileprivate var trimmingSpaces: String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
