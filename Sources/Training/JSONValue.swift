// A minimal JSON value tree, read with the package's JSON reader: the preference-data loader's view of a
// record. Numbers are kept as Double (only their type matters here).

import JSON

// MARK: - Value

enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

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

    /// Decodes one JSON text as Python's json.loads reads what Python wrote (NaN accepted, a repeated key
    /// keeps its last value); on failure throws where and why (no file or record: the caller adds them).
    static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseFailure) -> JSONValue {
        let copy = Array(bytes)
        do {
            return JSONValue(try copy.withUnsafeBytes { b in try JSONReader.parse(b, rules: .python) })
        } catch let e as JSONSyntaxError {
            throw JSONParseFailure(reason: e.message, line: e.line, column: e.column)
        } catch {
            throw JSONParseFailure(reason: "\(error)", line: 1, column: 1)
        }
    }

    init(_ node: JSONNode) {
        switch node {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .number(Double(i))
        case .double(let d): self = .number(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSONValue.init))
        case .object(let fields):
            var o: [String: JSONValue] = [:]
            for (k, v) in fields { o[k] = JSONValue(v) }
            self = .object(o)
        }
    }
}

/// Why a JSON text did not parse, and where (1-based line and column of the text).
struct JSONParseFailure: Error {
    var reason: String
    var line: Int
    var column: Int
}
