// A minimal JSON value tree, decoded with Foundation's JSONDecoder: the preference-data loader's view of a record.
// Not a general JSON library: no encoding, numbers are kept as Double (only their type matters here).

import Foundation

// MARK: - Value

enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? container.decode(Double.self) {
            self = .number(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The JSON type name used in error messages ("a number", "an object", ...).
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }

    // MARK: - Parsing

    /// Decodes one JSON text; on failure throws a short, one-line reason (no file or line: the caller adds them).
    static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseFailure) -> JSONValue {
        let data = Data(bytes)
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw failure(data, decoderError: error)
        }
    }

    /// JSONDecoder's errors on Linux say only "not valid JSON"; JSONSerialization's say where
    /// ("Invalid value around character 26."), as a UTF-8 byte offset, so the failing text is parsed again with it.
    private static func failure(_ data: Data, decoderError: Error) -> JSONParseFailure {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            var offset: Int?
            if let range = text.range(of: "around character ") {
                offset = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            return JSONParseFailure(reason: oneLine(text.hasSuffix(".") ? String(text.dropLast()) : text), byteOffset: offset)
        }
        return JSONParseFailure(reason: oneLine("\(decoderError)"), byteOffset: nil)
    }

    private static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// Why a JSON text did not parse, as one line.
struct JSONParseFailure: Error {
    var reason: String
    /// Where the parser stopped, in UTF-8 bytes from the start of the text, when it says.
    var byteOffset: Int?
}
