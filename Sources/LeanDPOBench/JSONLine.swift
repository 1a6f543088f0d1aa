// One benchmark result as one JSON line, written with the package's JSON writer (JSONText): keys in a
// fixed, readable order, measured figures rounded to a stated number of decimals, losses exact.

import Foundation
import JSON

extension JSONText {
    /// `v` rounded to `digits` decimals (written in its shortest form: 4.11, 846.0); nil digits: exact
    /// (losses); nil or non-finite: null.
    static func number(_ v: Double?, digits: Int? = nil) -> JSONText {
        guard let v, v.isFinite else { return .null }
        guard let digits, let rounded = Double(String(format: "%.\(digits)f", v)) else { return .double(v) }
        return .double(rounded == 0 ? 0 : rounded)  // no -0.0
    }

    static func numbers(_ v: [Double], digits: Int? = nil) -> JSONText { .array(v.map { .number($0, digits: digits) }) }
}

/// Fields in the order they were added, printed as one line on stdout.
struct JSONLine {
    var fields: [(String, JSONText)] = []

    mutating func add(_ key: String, _ value: JSONText) { fields.append((key, value)) }
    mutating func add(_ more: [(String, JSONText)]) { fields += more }

    var text: String { JSONText.object(fields).rendered(indent: nil) }

    func print() {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
