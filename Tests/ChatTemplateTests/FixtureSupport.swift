// Loads the parity fixtures written by tools/reference/gen_chat_template_fixtures.py.

import ChatTemplate
import Foundation

enum Fixtures {
    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    /// A fixture JSON file, parsed keeping key order (tojson output depends on it).
    static func json(_ name: String) throws -> JinjaDictionary {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        guard case .dictionary(let d) = try JinjaValue(json: text) else { throw FixtureError("\(name): not an object") }
        return d
    }

    static func template(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent("templates/\(name).jinja"), encoding: .utf8)
    }

    /// The instant the generator pinned `strftime_now` to (2025-03-09 14:05:07 UTC).
    static let fixedDate = Date(timeIntervalSince1970: 1_741_529_107)
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// One expected outcome: the rendered text, or an error (with the template's own message when raised).
struct Expectation {
    var expected: String?
    var error: String?
    var raised = false

    init(_ c: JinjaDictionary) {
        if case .string(let s)? = c["expected"] { expected = s }
        if case .string(let s)? = c["error"] { error = s }
        if case .bool(let b)? = c["raised"] { raised = b }
    }
}

extension JinjaValue {
    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var dictionaryValue: JinjaDictionary? {
        if case .dictionary(let d) = self { return d }
        return nil
    }

    var arrayValue: [JinjaValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
