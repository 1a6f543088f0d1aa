// Reading one preference record's JSON: ModelFiles' JSONValue tree, parsed with Python's json.loads rules
// (what a Python script wrote loads here too), and the type names the data errors use.

import JSON
import ModelFiles

extension JSONValue {
    /// Decodes one JSON text as Python's json.loads reads what Python wrote (NaN accepted, a repeated key
    /// keeps its last value); on failure throws where and why (no file or record: the caller adds them).
    static func parseRecord(_ bytes: ArraySlice<UInt8>) throws(JSONParseFailure) -> JSONValue {
        do throws(JSONSyntaxError) {
            return JSONValue(try JSONReader.parse(bytes, rules: .python))
        } catch {
            throw JSONParseFailure(reason: error.message, line: error.line, column: error.column)
        }
    }

    /// The JSON type name used in data errors, in Python's words for arrays ("a list", "an object", ...).
    var typeName: String {
        if case .array = self { return "a list" }
        return kindName
    }
}

/// Why a JSON text did not parse, and where (1-based line and column of the text).
struct JSONParseFailure: Error {
    var reason: String
    var line: Int
    var column: Int
}
