// One benchmark result as one JSON line with its keys in a fixed, readable order (JSONSerialization
// sorts or scrambles them), numbers rounded to a stated number of digits.

import Foundation
import JSON

indirect enum JSONValue {
    case null
    case bool(Bool)
    case int(Int)
    /// A number rounded to `digits` decimals; nil digits: the shortest exact form (losses).
    case number(Double, digits: Int?)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func number(_ v: Double?, digits: Int? = nil) -> JSONValue {
        guard let v else { return .null }
        return .number(v, digits: digits)
    }

    static func optionalInt(_ v: Int?) -> JSONValue { v.map { .int($0) } ?? .null }
    static func numbers(_ v: [Double], digits: Int? = nil) -> JSONValue { .array(v.map { .number($0, digits: digits) }) }

    var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let v, let digits):
            guard v.isFinite else { return "null" }
            if let digits {
                let s = String(format: "%.\(digits)f", v)
                return Double(s) == 0 ? String(format: "%.\(digits)f", 0.0) : s
            }
            return "\(v)"
        case .string(let s): return Self.quote(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let fields): return "{" + fields.map { Self.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String { JSONString.quoted(s) }
}

/// Fields in the order they were added, printed as one line on stdout.
struct JSONLine {
    var fields: [(String, JSONValue)] = []

    mutating func add(_ key: String, _ value: JSONValue) { fields.append((key, value)) }
    mutating func add(_ more: [(String, JSONValue)]) { fields += more }

    var text: String { JSONValue.object(fields).text }

    func print() {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
