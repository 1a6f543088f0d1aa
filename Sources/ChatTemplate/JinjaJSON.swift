// Reads JSON text into a JinjaValue keeping object key order, as Python's json.loads does: integers stay
// integers, numbers with a fraction or exponent become doubles, NaN and Infinity are accepted (the
// package's JSON reader with its Python rules).

import JSON

// MARK: - Errors

public struct JinjaJSONError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Byte offset into the UTF-8 text.
    public let offset: Int
    public let message: String

    public var description: String { "JSON byte \(offset): \(message)" }
}

// MARK: - Parsing

extension JinjaValue {
    public init(json text: String) throws(JinjaJSONError) {
        do {
            self = JinjaValue(try JSONReader.parse(text, rules: .python))
        } catch {
            throw JinjaJSONError(offset: error.offset, message: error.message)
        }
    }

    init(_ node: JSONNode) {
        switch node {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JinjaValue.init))
        case .object(let fields):
            var dict = JinjaDictionary()
            for (k, v) in fields { dict[k] = JinjaValue(v) }
            self = .dictionary(dict)
        }
    }
}
