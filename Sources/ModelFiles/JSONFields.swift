// Reading a JSON model file (config.json, tokenizer.json, a safetensors header) into a JSONValue, and
// typed field access whose errors name the file and the key.

import Foundation
import JSON

extension JSONValue {
    /// Parses `data` (RFC 8259); the error names the file, what is wrong and the line and column.
    public static func parse(_ data: Data, path: String) throws -> JSONValue {
        do throws(JSONSyntaxError) {
            return JSONValue(try JSONReader.parse(data, rules: .strict))
        } catch {
            throw ModelFileError(.malformed, path, "invalid JSON: \(error.message)", at: "line \(error.line), column \(error.column)")
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
