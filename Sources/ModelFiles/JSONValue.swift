// A parsed JSON document as a plain value tree, for files whose shape varies between writers
// (config.json, tokenizer.json, safetensors headers), with typed accessors that name the key on failure.

import Foundation
import JSON

public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `data` (RFC 8259); the error names the file, what is wrong and the line and column.
    public static func parse(_ data: Data, path: String) throws -> JSONValue {
        do throws(JSONSyntaxError) {
            return JSONValue(try JSONReader.parse(data, rules: .strict))
        } catch {
            throw ModelFileError(.malformed, path, "invalid JSON: \(error.message)", at: "line \(error.line), column \(error.column)")
        }
    }

    /// The reader's tree as this module's; a repeated key (only the Python rules let one through) keeps
    /// its last value.
    public init(_ node: JSONNode) {
        switch node {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSONValue.init))
        case .object(let fields):
            var o: [String: JSONValue] = [:]
            o.reserveCapacity(fields.count)
            for (k, v) in fields { o[k] = JSONValue(v) }
            self = .object(o)
        }
    }

    public static func read(_ path: String) throws -> JSONValue {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelFileError(.io, path, "cannot read: \((error as NSError).localizedDescription)")
        }
        return try parse(data, path: path)
    }

    // MARK: - Accessors

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var isNull: Bool { self == .null }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An integer, also from a float with an exact integral value (e.g. 100000.0).
    public var int: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// A short name of the value's kind, for messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Typed field access on a JSON object with errors naming the file and key.
struct JSONFields {
    let value: JSONValue
    let path: String
    /// Dotted prefix for nested objects ("rope_parameters.").
    var prefix: String = ""

    func has(_ key: String) -> Bool { !(value[key]?.isNull ?? true) }

    private func wrongType(_ key: String, _ expected: String, _ v: JSONValue) -> ModelFileError {
        ModelFileError(.malformed, path, "\(prefix)\(key) must be \(expected), found \(v.kindName)", at: "key \(prefix)\(key)")
    }

    func int(_ key: String) throws -> Int? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let i = v.int else { throw wrongType(key, "an integer", v) }
        return i
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else {
            throw ModelFileError(.missing, path, "required key \(prefix)\(key) is missing", at: "key \(prefix)\(key)")
        }
        return i
    }

    func double(_ key: String) throws -> Double? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let d = v.double else { throw wrongType(key, "a number", v) }
        return d
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let b = v.bool else { throw wrongType(key, "true or false", v) }
        return b
    }

    func string(_ key: String) throws -> String? {
        guard let v = value[key], !v.isNull else { return nil }
        guard let s = v.string else { throw wrongType(key, "a string", v) }
        return s
    }

    func object(_ key: String) throws -> JSONFields? {
        guard let v = value[key], !v.isNull else { return nil }
        guard v.object != nil else { throw wrongType(key, "an object", v) }
        return JSONFields(value: v, path: path, prefix: prefix + key + ".")
    }
}
