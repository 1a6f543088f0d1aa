// How Python turns values into text: str() and repr() (what `{{ }}` prints), float repr, and json.dumps
// as transformers' `tojson` calls it (ensure_ascii=False unless asked, optional indent and separators).

enum PyFormat {
    // MARK: - Floats

    /// float.__repr__: shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16, else exponent.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also prints the shortest round-trip digits; only the layout differs.
        let text = "\(d.magnitude)"
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var intPart = mantissa
        var fracPart: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            fracPart = mantissa[mantissa.index(after: dot)...]
        }
        var digits = Array(intPart + fracPart)
        var decpt = intPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            decpt -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let sign = d < 0 ? "-" : ""
        if decpt <= -4 || decpt > 16 {
            let e = decpt - 1
            var out = String(digits[0])
            if digits.count > 1 { out += "." + String(digits[1...]) }
            let mag = abs(e)
            out += (e < 0 ? "e-" : "e+") + (mag < 10 ? "0" : "") + String(mag)
            return sign + out
        }
        if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + String(digits) }
        if decpt >= digits.count {
            return sign + String(digits) + String(repeating: "0", count: decpt - digits.count) + ".0"
        }
        return sign + String(digits[..<decpt]) + "." + String(digits[decpt...])
    }

    // MARK: - str and repr

    /// str(value): what `{{ value }}`, `~` and `join` print.
    static func str(_ v: Value) throws(TemplateFailure) -> String {
        switch v {
        case .string(let s): return s
        case .undefined: return ""
        default: return try repr(v)
        }
    }

    static func repr(_ v: Value) throws(TemplateFailure) -> String {
        switch v {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return floatRepr(d)
        case .string(let s): return stringRepr(s)
        case .list(let items): return "[" + (try reprs(items)).joined(separator: ", ") + "]"
        case .tuple(let items):
            let inner = try reprs(items).joined(separator: ", ")
            return "(" + inner + (items.count == 1 ? ",)" : ")")
        case .dict(let d): return try dictRepr(d)
        case .view(.range(let start, let stop, let step), _):
            return "range(\(start), \(stop)" + (step == 1 ? ")" : ", \(step))")
        case .view(let kind, let items): return kind.typeName + "(" + (try repr(.list(items))) + ")"
        case .namespace(let ns): return "<Namespace " + (try dictRepr(ns.attributes)) + ">"
        case .generator, .macro, .loop, .method, .builtin:
            throw TemplateFailure.unsupported("printing a \(v.typeName) object")
        }
    }

    /// The items' reprs, checked against the render budget as they grow: a list that shares its items many
    /// times over (`[[x] * 1000] * 1000`) is small in memory but not in print.
    private static func reprs(_ items: [Value]) throws(TemplateFailure) -> [String] {
        var parts: [String] = []
        var total = 0
        for item in items {
            try RenderBudget.tick()
            let r = try repr(item)
            total = RenderBudget.sum(total, r.utf8.count, 2)
            try RenderBudget.string(total)
            parts.append(r)
        }
        return parts
    }

    private static func dictRepr(_ d: Dict) throws(TemplateFailure) -> String {
        var parts: [String] = []
        var total = 0
        for (k, v) in d.items {
            try RenderBudget.tick()
            parts.append(try repr(k) + ": " + (try repr(v)))
            total = RenderBudget.sum(total, parts[parts.count - 1].utf8.count, 2)
            try RenderBudget.string(total)
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// str.__repr__: single quotes unless the text has a ' and no ", escapes for unprintable code points.
    static func stringRepr(_ s: String) -> String {
        let quote: Unicode.Scalar = s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"") ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\":
                out.append("\\")
                out.append(c)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if c.value < 0x20 || c.value == 0x7F {
                    out.append(contentsOf: hexEscape(c.value, "x", 2).unicodeScalars)
                } else if c.value < 0x7F || PyText.isPrintable(c) {
                    out.append(c)
                } else if c.value <= 0xFF {
                    out.append(contentsOf: hexEscape(c.value, "x", 2).unicodeScalars)
                } else if c.value <= 0xFFFF {
                    out.append(contentsOf: hexEscape(c.value, "u", 4).unicodeScalars)
                } else {
                    out.append(contentsOf: hexEscape(c.value, "U", 8).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    private static func hexEscape(_ v: UInt32, _ letter: String, _ width: Int) -> String {
        let hex = String(v, radix: 16)
        return "\\" + letter + String(repeating: "0", count: max(0, width - hex.count)) + hex
    }

    // MARK: - JSON

    struct JSONOptions {
        var indent: String?
        var itemSeparator: String
        var keySeparator: String
        var sortKeys = false
        var ensureAscii = false
    }

    /// json.dumps(value, ...) with Python's layout rules.
    static func json(_ v: Value, _ o: JSONOptions, level: Int = 0) throws(TemplateFailure) -> String {
        switch v {
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
            return floatRepr(d)
        case .string(let s): return jsonString(s, ensureAscii: o.ensureAscii)
        case .list(let items), .tuple(let items):
            if items.isEmpty { return "[]" }
            var parts: [String] = []
            var total = 0
            for item in items {
                try RenderBudget.tick()
                parts.append(try json(item, o, level: level + 1))
                total = RenderBudget.sum(total, parts[parts.count - 1].utf8.count, RenderBudget.product(level + 1, o.indent?.utf8.count ?? 0), 2)
                try RenderBudget.string(total)
            }
            return wrap("[", parts, "]", o, level)
        case .dict(let d):
            if d.count == 0 { return "{}" }
            var items = d.items
            if o.sortKeys {
                var failure: TemplateFailure?
                items.sort { a, b in
                    do throws(TemplateFailure) { return try Operators.less(a.0, b.0) } catch {
                        failure = error
                        return false
                    }
                }
                if let failure { throw failure }
            }
            var parts: [String] = []
            var total = 0
            for (k, value) in items {
                try RenderBudget.tick()
                let key: String
                switch k {
                case .string(let s): key = s
                case .int, .double, .bool, .none: key = try json(k, o)
                default: throw TemplateFailure("TypeError: keys must be str, int, float, bool or None, not \(k.typeName)")
                }
                parts.append(jsonString(key, ensureAscii: o.ensureAscii) + o.keySeparator + (try json(value, o, level: level + 1)))
                total = RenderBudget.sum(total, parts[parts.count - 1].utf8.count, RenderBudget.product(level + 1, o.indent?.utf8.count ?? 0), 2)
                try RenderBudget.string(total)
            }
            return wrap("{", parts, "}", o, level)
        default:
            throw TemplateFailure("TypeError: Object of type \(v.typeName) is not JSON serializable")
        }
    }

    private static func wrap(_ open: String, _ parts: [String], _ close: String, _ o: JSONOptions, _ level: Int) -> String {
        guard let indent = o.indent else { return open + parts.joined(separator: o.itemSeparator) + close }
        let inner = "\n" + String(repeating: indent, count: level + 1)
        return open + inner + parts.joined(separator: o.itemSeparator + inner) + "\n"
            + String(repeating: indent, count: level) + close
    }

    static func jsonString(_ s: String, ensureAscii: Bool) -> String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for c in s.unicodeScalars {
            switch c {
            case "\"": out.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\u{08}": out.append(contentsOf: "\\b".unicodeScalars)
            case "\u{0C}": out.append(contentsOf: "\\f".unicodeScalars)
            default:
                if c.value < 0x20 || (ensureAscii && c.value > 0x7E) {
                    if c.value > 0xFFFF {
                        let v = c.value - 0x10000
                        out.append(contentsOf: hexEscape(0xD800 + (v >> 10), "u", 4).unicodeScalars)
                        out.append(contentsOf: hexEscape(0xDC00 + (v & 0x3FF), "u", 4).unicodeScalars)
                    } else {
                        out.append(contentsOf: hexEscape(c.value, "u", 4).unicodeScalars)
                    }
                } else {
                    out.append(c)
                }
            }
        }
        out.append("\"")
        return String(out)
    }
}
