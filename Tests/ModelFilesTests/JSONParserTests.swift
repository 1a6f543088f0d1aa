// The JSON parser behind config.json, tokenizer.json and safetensors headers: escapes (as Python's
// json.dump writes them), numbers, and errors that give the line and column.

import Foundation
import ModelFiles
import Testing

func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8), path: "t.json") }

@Test func parsesValuesAndEscapes() throws {
    let v = try json(
        #" {"a": [1, -2, 3.5, 1e-05, 100000.0, 12345678901234567168, true, false, null], "Ġ": "x", "\u0120t": "\ud83d\ude00 \"q\" \\ \/ \n\t", "e": {}, "l": []} "#
    )
    #expect(
        v["a"]
            == .array([
                .int(1), .int(-2), .double(3.5), .double(1e-5), .double(100000), .double(12345678901234567168), .bool(true), .bool(false), .null,
            ]))
    #expect(v["a"]?.array?[4].int == 100000)
    #expect(v["Ġ"]?.string == "x")
    #expect(v["Ġt"]?.string == "😀 \"q\" \\ / \n\t")
    #expect(v["e"] == .object([:]) && v["l"] == .array([]))
    #expect(try json("\"caf\u{e9}\"") == .string("café"))
}

@Test(arguments: [
    (#"{"a": 1,}"#, "expected a string key", "line 1, column 9"),
    ("{\n  \"a\": tru\n}", "unexpected character 't'", "line 2, column 8"),
    (#"{"a": 1} x"#, "unexpected characters after the JSON value", "line 1"),
    (#"{"a": 1, "a": 2}"#, "duplicate key \"a\"", "line 1"),
    (#"[01]"#, "leading zero", "column 2"),
    (#"["\x"]"#, "invalid escape", "line 1"),
    (#"["\ud800"]"#, "unpaired surrogate", "line 1"),
    (#"["abc"#, "unterminated string", "line 1"),
    (#"[1e999]"#, "out of range", "line 1"),
    ("", "unexpected end of input", "line 1, column 1"),
])
func malformedJSONNamesTheSpot(text: String, what: String, spot: String) {
    expectModelError("t.json: invalid JSON", what, spot, kind: .malformed) { _ = try json(text) }
}

@Test func deepNestingAndBadUTF8AreRefused() {
    expectModelError("nested deeper than 512 levels") { _ = try json(String(repeating: "[", count: 600)) }
    expectModelError("not valid UTF-8") { _ = try JSONValue.parse(Data([0x22, 0xFF, 0x22]), path: "t.json") }
}
