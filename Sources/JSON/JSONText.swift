// Writing JSON with a fixed key order and Python-compatible number spelling (1e-05, 100000.0), for the
// files an export produces (config.json, tokenizer.json, index files). Reading is JSONValue's job.

// MARK: - Value

/// A JSON value to write; objects keep the order their keys were given in.
public indirect enum JSONText: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONText])
    case object([(String, JSONText)])

    public static func == (a: JSONText, b: JSONText) -> Bool { a.rendered(indent: nil) == b.rendered(indent: nil) }

    /// An object with its keys sorted (as Python's `json.dumps(sort_keys=True)`).
    public static func sorted(_ fields: [String: JSONText]) -> JSONText {
        .object(fields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// A number, or null when it is NaN or infinite (JSON has no spelling for them).
    public static func finite(_ d: Double) -> JSONText { d.isFinite ? .double(d) : .null }

    /// `nil` becomes null.
    public static func optional(_ i: Int?) -> JSONText { i.map { .int($0) } ?? .null }
    public static func optional(_ s: String?) -> JSONText { s.map { .string($0) } ?? .null }

    // MARK: - Rendering

    /// The text: pretty-printed with `indent` spaces per level (Python's `indent=`, separators ", " and
    /// ": "), or compact (",", ":") when `indent` is nil.
    public func rendered(indent: Int? = 2) -> String {
        var out = ""
        write(into: &out, indent: indent, level: 0)
        return out
    }

    private func write(into out: inout String, indent: Int?, level: Int) {
        func newline(_ l: Int) {
            if let indent {
                out += "\n"
                out += String(repeating: " ", count: indent * l)
            }
        }
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += Self.number(d)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let a):
            guard !a.isEmpty else {
                out += "[]"
                return
            }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                newline(level + 1)
                v.write(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let o):
            guard !o.isEmpty else {
                out += "{}"
                return
            }
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                newline(level + 1)
                Self.quote(k, into: &out)
                out += indent == nil ? ":" : ": "
                v.write(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        }
    }

    /// Shortest round-trip spelling, as Python's repr: 1e-05, 100000.0, 0.02; non-finite values are not
    /// JSON and are written as null.
    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        return "\(d)"
    }

    /// A JSON string literal; non-ASCII text is written as UTF-8, control characters escaped.
    static func quote(_ s: String, into out: inout String) { JSONString.append(s, to: &out) }
}
