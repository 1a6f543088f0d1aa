// Python's two string formatting mini-languages as templates use them: `'%s' % x` (and the `format`
// filter) and `'{} {name}'.format(...)`. Only the common conversions; anything else is named in an error.

import Foundation

// MARK: - printf-style (`%`)

enum PercentFormat {
    static func format(_ template: String, _ argument: Value) throws(TemplateFailure) -> String {
        var positional: [Value]
        var mapping: Dict?
        switch argument {
        case .tuple(let items): positional = items
        case .dict(let d):
            positional = [argument]
            mapping = d
        default: positional = [argument]
        }
        let a = PyText.scalars(template)
        var out = ""
        var i = 0
        var next = 0
        while i < a.count {
            guard a[i] == "%" else {
                out.unicodeScalars.append(a[i])
                i += 1
                continue
            }
            i += 1
            guard i < a.count else { throw TemplateFailure("ValueError: incomplete format") }
            var key: String?
            if a[i] == "(" {
                guard let close = a[i...].firstIndex(of: ")") else { throw TemplateFailure("ValueError: incomplete format key") }
                key = PyText.string(a[(i + 1)..<close])
                i = close + 1
            }
            var flags = ""
            while i < a.count, "-+ #0".unicodeScalars.contains(a[i]) {
                flags.unicodeScalars.append(a[i])
                i += 1
            }
            var width = ""
            while i < a.count, PyText.isAsciiDigit(a[i]) {
                width.unicodeScalars.append(a[i])
                i += 1
            }
            var precision: Int?
            if i < a.count, a[i] == "." {
                i += 1
                var p = ""
                while i < a.count, PyText.isAsciiDigit(a[i]) {
                    p.unicodeScalars.append(a[i])
                    i += 1
                }
                precision = p.isEmpty ? 0 : try RenderBudget.width(p)
            }
            guard i < a.count else { throw TemplateFailure("ValueError: incomplete format") }
            let conversion = a[i]
            i += 1
            if conversion == "%" {
                out += "%"
                continue
            }
            let value: Value
            if let key {
                guard let mapping else { throw TemplateFailure("TypeError: format requires a mapping") }
                guard let v = mapping.get(key) else { throw TemplateFailure("KeyError: '\(key)'") }
                value = v
            } else {
                guard next < positional.count else { throw TemplateFailure("TypeError: not enough arguments for format string") }
                value = positional[next]
                next += 1
            }
            var text: String
            switch conversion {
            case "s": text = try PyFormat.str(value)
            case "r": text = try PyFormat.repr(value)
            case "d", "i":
                guard let n = try Builtins.toInt(value) else {
                    throw TemplateFailure("TypeError: %\(conversion) format: a real number is required, not \(value.typeName)")
                }
                text = String(n)
                if flags.contains("+") && n >= 0 { text = "+" + text }
            case "f", "F":
                guard let d = Builtins.toDouble(value) else {
                    throw TemplateFailure("TypeError: must be real number, not \(value.typeName)")
                }
                text = String(format: "%.\(precision ?? 6)f", d)
                if flags.contains("+") && d >= 0 { text = "+" + text }
            default:
                throw TemplateFailure.unsupported("unsupported format conversion '%\(conversion)'")
            }
            if !width.isEmpty, case let w = try RenderBudget.width(width), PyText.length(text) < w {
                let pad = w - PyText.length(text)
                if flags.contains("-") {
                    text += String(repeating: " ", count: pad)
                } else if flags.contains("0") && conversion != "s" && conversion != "r" {
                    let negative = text.hasPrefix("-") || text.hasPrefix("+")
                    let sign = negative ? String(text.removeFirst()) : ""
                    text = sign + String(repeating: "0", count: pad) + text
                } else {
                    text = String(repeating: " ", count: pad) + text
                }
            }
            out += text
        }
        // Python skips this check when the argument is any non-tuple object with __getitem__ (dict, list)
        var sequenceArgument = false
        switch argument {
        case .list, .undefined: sequenceArgument = true
        default: break
        }
        if mapping == nil && !sequenceArgument && next < positional.count {
            throw TemplateFailure("TypeError: not all arguments converted during string formatting")
        }
        return out
    }
}

// MARK: - str.format

enum BraceFormat {
    static func format(_ template: String, _ args: [Value], _ kwargs: [(String, Value)]) throws(TemplateFailure) -> String {
        let a = PyText.scalars(template)
        var out = ""
        var i = 0
        var auto = 0
        var numbering: Bool?  // true once a field is numbered by hand, false once one is automatic
        while i < a.count {
            let c = a[i]
            if c == "}" {
                guard i + 1 < a.count, a[i + 1] == "}" else {
                    throw TemplateFailure("ValueError: Single '}' encountered in format string")
                }
                out += "}"
                i += 2
                continue
            }
            guard c == "{" else {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            if i + 1 < a.count, a[i + 1] == "{" {
                out += "{"
                i += 2
                continue
            }
            guard let close = a[(i + 1)...].firstIndex(of: "}") else {
                throw TemplateFailure("ValueError: Single '{' encountered in format string")
            }
            var field = PyText.string(a[(i + 1)..<close])
            i = close + 1
            var spec = ""
            if let colon = field.firstIndex(of: ":") {
                spec = String(field[field.index(after: colon)...])
                field = String(field[..<colon])
            }
            var conversion: Character?
            if let bang = field.firstIndex(of: "!") {
                conversion = field[field.index(after: bang)...].first
                field = String(field[..<bang])
            }
            // field name: first part is an index or a keyword, then .attr / [key] parts
            var head = field
            var rest = ""
            if let cut = field.firstIndex(where: { $0 == "." || $0 == "[" }) {
                head = String(field[..<cut])
                rest = String(field[cut...])
            }
            var value: Value
            if head.isEmpty || Int(head) != nil {
                let manual = !head.isEmpty
                if numbering == nil { numbering = manual }
                guard numbering == manual else {
                    throw TemplateFailure(
                        "ValueError: cannot switch from \(manual ? "automatic field numbering to manual" : "manual field specification to automatic") field \(manual ? "specification" : "numbering")"
                    )
                }
            }
            if head.isEmpty {
                guard auto < args.count else { throw TemplateFailure("IndexError: Replacement index \(auto) out of range") }
                value = args[auto]
                auto += 1
            } else if let n = Int(head) {
                guard n < args.count else { throw TemplateFailure("IndexError: Replacement index \(n) out of range") }
                value = args[n]
            } else {
                guard let v = kwargs.first(where: { $0.0 == head })?.1 else { throw TemplateFailure("KeyError: '\(head)'") }
                value = v
            }
            while !rest.isEmpty {
                if rest.hasPrefix(".") {
                    rest.removeFirst()
                    let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                    value = try Operators.attribute(value, String(rest[..<end]))
                    rest = String(rest[end...])
                } else {
                    guard let end = rest.firstIndex(of: "]") else { throw TemplateFailure("ValueError: Missing ']' in format string") }
                    let key = String(rest[rest.index(after: rest.startIndex)..<end])
                    value = try Operators.item(value, Int(key).map { .int($0) } ?? .string(key))
                    rest = String(rest[rest.index(after: end)...])
                }
            }
            if case .undefined(let u) = value { throw u.failure }
            switch conversion {
            case "r": value = .string(try PyFormat.repr(value))
            case "s", nil: break
            default: throw TemplateFailure.unsupported("unsupported format conversion '!\(conversion!)'")
            }
            out += try applySpec(value, spec)
        }
        return out
    }

    /// A format spec of the form [[fill]align][width][.precision][type] with type in s, d, f, or none.
    private static func applySpec(_ value: Value, _ spec: String) throws(TemplateFailure) -> String {
        if spec.isEmpty { return try PyFormat.str(value) }
        var s = Array(spec)
        var fill: Character = " "
        var align: Character?
        if s.count >= 2, "<>^".contains(s[1]) {
            fill = s[0]
            align = s[1]
            s.removeFirst(2)
        } else if let f = s.first, "<>^".contains(f) {
            align = f
            s.removeFirst()
        }
        var width = ""
        while let f = s.first, f.isASCII, f.isNumber {
            width.append(f)
            s.removeFirst()
        }
        var precision: Int?
        if s.first == "." {
            s.removeFirst()
            var p = ""
            while let f = s.first, f.isASCII, f.isNumber {
                p.append(f)
                s.removeFirst()
            }
            precision = p.isEmpty ? nil : try RenderBudget.width(p)
        }
        let type = s.first
        guard s.count <= 1 else { throw TemplateFailure.unsupported("unsupported format spec '\(spec)'") }
        var text: String
        var numeric = false
        switch type {
        case nil, "s":
            text = try PyFormat.str(value)
            if let precision, case .string = value { text = PyText.string(PyText.scalars(text).prefix(precision)) }
            numeric = number(value)
        case "d":
            guard case .int(let i) = value else {
                throw TemplateFailure("ValueError: Unknown format code 'd' for object of type '\(value.typeName)'")
            }
            text = String(i)
            numeric = true
        case "f":
            guard let d = Builtins.toDouble(value) else {
                throw TemplateFailure("ValueError: Unknown format code 'f' for object of type '\(value.typeName)'")
            }
            text = String(format: "%.\(precision ?? 6)f", d)
            numeric = true
        default:
            throw TemplateFailure.unsupported("unsupported format spec '\(spec)'")
        }
        if !width.isEmpty, case let w = try RenderBudget.width(width), PyText.length(text) < w {
            let pad = w - PyText.length(text)
            switch align ?? (numeric ? ">" : "<") {
            case ">": text = String(repeating: fill, count: pad) + text
            case "^": text = String(repeating: fill, count: pad / 2) + text + String(repeating: fill, count: pad - pad / 2)
            default: text += String(repeating: fill, count: pad)
            }
        }
        return text
    }

    private static func number(_ v: Value) -> Bool {
        switch v {
        case .int, .double, .bool: true
        default: false
        }
    }
}
