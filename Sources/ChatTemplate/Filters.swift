// jinja2's built-in filters (the ones chat templates use), with transformers' `tojson` override.
// Each follows jinja2 3.1's implementation; filters that return Python generators return `.generator`.

import Foundation

enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "format", "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, _ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch name {
        // MARK: Strings
        case "upper", "lower", "capitalize", "title":
            _ = try args.bind([], name)
            let s = try PyFormat.str(value)
            switch name {
            case "upper": return .string(PyText.upper(s))
            case "lower": return .string(PyText.lower(s))
            case "capitalize": return .string(PyText.capitalize(s))
            default: return .string(jinjaTitle(s))
            }
        case "trim":
            let a = try args.bind(["chars"], name)
            return .string(PyText.strip(try PyFormat.str(value), chars: try optionalString(a[0], "trim")))
        case "replace":
            let a = try args.bind(["old", "new", "count"], name)
            guard let old = a[0], let new = a[1] else { throw TemplateFailure("TypeError: replace() missing required arguments") }
            let count = try a[2].map { v throws(TemplateFailure) in try requireInt(v, "replace") } ?? -1
            return .string(try PyText.replace(try PyFormat.str(value), try PyFormat.str(old), try PyFormat.str(new), count: count))
        case "string":
            _ = try args.bind([], name)
            return .string(try PyFormat.str(value))
        case "safe":
            _ = try args.bind([], name)
            return .string(try PyFormat.str(value))
        case "e", "escape":
            _ = try args.bind([], name)
            return .string(htmlEscape(try PyFormat.str(value)))
        case "indent":
            let a = try args.bind(["width", "first", "blank"], name)
            let indention: String
            switch a[0] {
            case nil: indention = "    "
            case .string(let s)?: indention = s
            case let w?:
                let width = try requireInt(w, "indent")
                try RenderBudget.string(width)
                indention = String(repeating: " ", count: max(0, width))
            }
            // jinja2 appends "\n" to the value itself, so only strings work (undefined raises)
            if case .undefined(let u) = value { throw u.failure }
            guard case .string(let text) = value else {
                throw TemplateFailure("TypeError: indent expects a string, not \(value.typeName)")
            }
            return .string(try indent(text, indention, first: a[1]?.isTruthy ?? false, blank: a[2]?.isTruthy ?? false))
        case "center":
            let a = try args.bind(["width"], name)
            let width = try a[0].map { v throws(TemplateFailure) in try requireInt(v, "center") } ?? 80
            return .string(try center(try PyFormat.str(value), width))
        case "truncate":
            return try truncate(value, args)
        case "wordcount":
            _ = try args.bind([], name)
            var count = 0
            var inWord = false
            for c in try PyFormat.str(value).unicodeScalars {
                let w = c == "_" || PyText.isAlpha(c) || PyText.isNumeric(c)
                if w && !inWord { count += 1 }
                inWord = w
            }
            return .int(count)
        case "format":
            guard args.positional.isEmpty || args.keyword.isEmpty else {
                throw TemplateFailure("can't handle positional and keyword arguments at the same time")
            }
            var mapping = Dict()
            for (k, v) in args.keyword { mapping.setString(k, v) }
            let arg: Value = args.keyword.isEmpty ? .tuple(args.positional) : .dict(mapping)
            return .string(try PercentFormat.format(try PyFormat.str(value), arg))

        // MARK: Numbers
        case "int":
            let a = try args.bind(["default", "base"], name)
            let fallback = a[0] ?? .int(0)
            if case .undefined(let u) = value { throw u.failure }  // int(Undefined) raises, it is not a ValueError
            let base = try a[1].map { v throws(TemplateFailure) in try requireInt(v, "int") } ?? 10
            if case .string(let s) = value {
                if let i = try Builtins.parseInt(s, base: base) { return .int(i) }
                // "42.7" falls back to int(float(s)); inf and nan give the default
                guard let d = Builtins.parseDouble(s), d.isFinite else { return fallback }
                return .int(try Builtins.toInt(.double(d))!)
            }
            return try Builtins.toInt(value).map { .int($0) } ?? fallback
        case "float":
            let a = try args.bind(["default"], name)
            let fallback = a[0] ?? .double(0)
            if case .undefined(let u) = value { throw u.failure }
            if case .string(let s) = value { return Builtins.parseDouble(s).map { .double($0) } ?? fallback }
            return Builtins.toDouble(value).map { .double($0) } ?? fallback
        case "abs":
            _ = try args.bind([], name)
            switch value {
            case .int(let i):
                guard i != .min else { throw TemplateFailure("integer overflow in abs") }
                return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            case .undefined(let u): throw u.failure
            default: throw TemplateFailure("TypeError: bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            return try round(value, args)
        case "sum":
            let a = try args.bind(["attribute", "start"], name)
            var total = a[1] ?? .int(0)
            let path = try attributePath(a[0])
            for item in try Operators.iterate(value) {
                total = try Operators.binary(.add, total, try lookup(item, path))
            }
            return total

        // MARK: Sequences
        case "length", "count":
            _ = try args.bind([], name)
            return .int(try length(value))
        case "first":
            _ = try args.bind([], name)
            return try Operators.iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            _ = try args.bind([], name)
            switch value {
            case .generator: throw TemplateFailure("TypeError: 'generator' object is not reversible")
            case .list, .tuple, .string, .dict, .undefined, .view:
                return try Operators.iterate(value).last ?? .undefined("No last item, sequence was empty.")
            default: throw TemplateFailure("TypeError: '\(value.typeName)' object is not reversible")
            }
        case "list":
            _ = try args.bind([], name)
            return .list(try Operators.iterate(value))
        case "items":
            _ = try args.bind([], name)
            switch value {
            case .undefined: return .generator([])
            case .dict(let d): return .generator(d.items.map { .tuple([$0.0, $0.1]) })
            default: throw TemplateFailure("TypeError: Can only get item pairs from a mapping.")
            }
        case "dictsort":
            let a = try args.bind(["case_sensitive", "by", "reverse"], name)
            guard case .dict(let d) = value else { throw TemplateFailure("TypeError: dictsort expects a mapping") }
            let position: Int
            switch a[1] {
            case nil, .string("key")?: position = 0
            case .string("value")?: position = 1
            default: throw TemplateFailure("You can only sort by either \"key\" or \"value\"")
            }
            let caseSensitive = a[0]?.isTruthy ?? false
            let pairs = d.items.map { Value.tuple([$0.0, $0.1]) }
            let keys = pairs.map { pair -> Value in
                guard case .tuple(let kv) = pair else { return pair }
                return caseSensitive ? kv[position] : ignoreCase(kv[position])
            }
            return .list(try stableSort(pairs, keys: keys, reverse: a[2]?.isTruthy ?? false))
        case "join":
            let a = try args.bind(["d", "attribute"], name)
            let separator = try a[0].map { v throws(TemplateFailure) in try PyFormat.str(v) } ?? ""
            let path = try attributePath(a[1])
            var parts: [String] = []
            for item in try Operators.iterate(value) { parts.append(try PyFormat.str(try lookup(item, path))) }
            return .string(parts.joined(separator: separator))
        case "reverse":
            _ = try args.bind([], name)
            switch value {
            case .string(let s): return .string(PyText.string(s.unicodeScalars.reversed()))
            case .list(let items), .tuple(let items), .view(_, let items): return .generator(items.reversed())
            case .dict(let d): return .generator(d.keys.reversed())
            case .undefined: return .generator([])
            case .generator(let items): return .list(items.reversed())
            default: throw TemplateFailure("argument must be iterable")
            }
        case "sort":
            let a = try args.bind(["reverse", "case_sensitive", "attribute"], name)
            let items = try Operators.iterate(value)
            let caseSensitive = a[1]?.isTruthy ?? false
            var paths: [[Value]] = []
            switch a[2] {
            case nil, .none?: paths = [[]]
            case .string(let s)?:
                for part in try PyText.split(s, sep: ",") { paths.append(try attributePath(.string(part))) }
            case let other?: paths = [try attributePath(other)]
            }
            var keys: [Value] = []
            for item in items {
                var key: [Value] = []
                for path in paths {
                    let v = try lookup(item, path)
                    key.append(caseSensitive ? v : ignoreCase(v))
                }
                keys.append(.list(key))
            }
            return .list(try stableSort(items, keys: keys, reverse: a[0]?.isTruthy ?? false))
        case "unique":
            let a = try args.bind(["case_sensitive", "attribute"], name)
            let caseSensitive = a[0]?.isTruthy ?? false
            let path = try attributePath(a[1])
            var seen = Dict()
            var out: [Value] = []
            for item in try Operators.iterate(value) {
                var key = try lookup(item, path)
                if !caseSensitive { key = ignoreCase(key) }
                if try !seen.contains(key) {
                    try seen.set(key, .none)
                    out.append(item)
                }
            }
            return .generator(out)
        case "min", "max":
            let a = try args.bind(["case_sensitive", "attribute"], name)
            let items = try Operators.iterate(value)
            guard var best = items.first else { return .undefined("No aggregated item, sequence was empty.") }
            let caseSensitive = a[0]?.isTruthy ?? false
            let path = try attributePath(a[1])
            func key(_ v: Value) throws(TemplateFailure) -> Value {
                let k = try lookup(v, path)
                return caseSensitive ? k : ignoreCase(k)
            }
            var bestKey = try key(best)
            for item in items.dropFirst() {
                let k = try key(item)
                let better = name == "min" ? try Operators.less(k, bestKey) : try Operators.less(bestKey, k)
                if better {
                    best = item
                    bestKey = k
                }
            }
            return best
        case "batch":
            let a = try args.bind(["linecount", "fill_with"], name)
            guard let countValue = a[0] else { throw TemplateFailure("TypeError: batch() missing 'linecount'") }
            let size = try requireInt(countValue, "batch")
            guard size > 0 else { throw TemplateFailure("ValueError: batch size must be positive") }
            var rows: [Value] = []
            var row: [Value] = []
            for item in try Operators.iterate(value) {
                row.append(item)
                if row.count == size {
                    rows.append(.list(row))
                    row = []
                }
            }
            if !row.isEmpty {
                if let fill = a[1] {
                    try RenderBudget.items(size)
                    row += Array(repeating: fill, count: size - row.count)
                }
                rows.append(.list(row))
            }
            return .generator(rows)
        case "map":
            return try map(value, args)
        case "select", "reject", "selectattr", "rejectattr":
            return try select(name, value, args)
        case "attr":
            let a = try args.bind(["name"], name)
            guard case .string(let attr)? = a[0] else { throw TemplateFailure("TypeError: attr() needs an attribute name") }
            if case .undefined(let u) = value { throw u.failure }
            return try Operators.pythonAttribute(value, attr) ?? .undefined("'\(value.objectDescription)' has no attribute '\(attr)'")
        case "default", "d":
            let a = try args.bind(["default_value", "boolean"], name)
            if value.isUndefined || ((a[1]?.isTruthy ?? false) && !value.isTruthy) { return a[0] ?? .string("") }
            return value

        // MARK: JSON
        case "tojson":
            let a = try args.bind(["ensure_ascii", "indent", "separators", "sort_keys"], name)
            var options = PyFormat.JSONOptions(indent: nil, itemSeparator: ", ", keySeparator: ": ")
            options.ensureAscii = a[0]?.isTruthy ?? false
            switch a[1] {
            case nil, .none?: break
            case .string(let s)?: options.indent = s
            case let w?:
                let width = try requireInt(w, "tojson")
                try RenderBudget.string(width)
                options.indent = String(repeating: " ", count: max(0, width))
            }
            if options.indent != nil { options.itemSeparator = "," }
            switch a[2] {
            case nil, .none?: break
            case .list(let s)?, .tuple(let s)?:
                guard s.count == 2, case .string(let item) = s[0], case .string(let key) = s[1] else {
                    throw TemplateFailure("ValueError: separators must be a pair of strings")
                }
                options.itemSeparator = item
                options.keySeparator = key
            default: throw TemplateFailure("ValueError: separators must be a pair of strings")
            }
            options.sortKeys = a[3]?.isTruthy ?? false
            return .string(try PyFormat.json(value, options))
        default:
            throw TemplateFailure.unsupported("unsupported filter '\(name)'")
        }
    }

    // MARK: - Helpers

    private static func optionalString(_ v: Value?, _ what: String) throws(TemplateFailure) -> String? {
        switch v {
        case nil, .none?: return nil
        case .string(let s)?: return s
        case let other?: throw TemplateFailure("TypeError: \(what) arg must be None or str, not \(other.typeName)")
        }
    }

    static func requireInt(_ v: Value, _ what: String) throws(TemplateFailure) -> Int {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        case .undefined(let u): throw u.failure
        default: throw TemplateFailure("TypeError: \(what)(): '\(v.typeName)' object cannot be interpreted as an integer")
        }
    }

    static func length(_ v: Value) throws(TemplateFailure) -> Int {
        switch v {
        case .string(let s): return PyText.length(s)
        case .list(let a), .tuple(let a), .view(_, let a): return a.count
        case .dict(let d): return d.count
        case .undefined: return 0
        default: throw TemplateFailure("TypeError: object of type '\(v.typeName)' has no len()")
        }
    }

    private static func isNone(_ v: Value) -> Bool {
        if case .none = v { return true }
        return false
    }

    private static func ignoreCase(_ v: Value) -> Value {
        if case .string(let s) = v { return .string(PyText.lower(s)) }
        return v
    }

    /// jinja2's `_prepare_attribute_parts`: "a.0.b" → ["a", 0, "b"].
    private static func attributePath(_ attribute: Value?) throws(TemplateFailure) -> [Value] {
        switch attribute {
        case nil, .none?: return []
        case .string(let s)?:
            return try PyText.split(s, sep: ".").map { part in
                part.unicodeScalars.allSatisfy(PyText.isDigit) && !part.isEmpty ? .int(Int(part) ?? 0) : .string(part)
            }
        case let other?: return [other]
        }
    }

    private static func lookup(_ item: Value, _ path: [Value]) throws(TemplateFailure) -> Value {
        var v = item
        for part in path { v = try Operators.item(v, part) }
        return v
    }

    /// Python's sorted(): stable, with `reverse` keeping equal items in their original order.
    private static func stableSort(_ items: [Value], keys: [Value], reverse: Bool) throws(TemplateFailure) -> [Value] {
        var failure: TemplateFailure?
        let order = items.indices.sorted { i, j in
            do throws(TemplateFailure) {
                if try reverse ? Operators.less(keys[j], keys[i]) : Operators.less(keys[i], keys[j]) { return true }
                if try reverse ? Operators.less(keys[i], keys[j]) : Operators.less(keys[j], keys[i]) { return false }
            } catch {
                failure = error
            }
            return i < j
        }
        if let failure { throw failure }
        return order.map { items[$0] }
    }

    /// jinja2's `title` filter: upper-case the first letter after `-`, whitespace or an opening bracket.
    private static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            let boundary = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || PyText.isSpace(c)
            if boundary {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return out
    }

    private static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private static func indent(_ text: String, _ indention: String, first: Bool, blank: Bool) throws(TemplateFailure) -> String {
        let lines = PyText.splitlines(text + "\n")
        try RenderBudget.string(RenderBudget.sum(text.utf8.count, RenderBudget.product(lines.count + 1, indention.utf8.count)))
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indention)
        } else {
            rv = lines.first ?? ""
            let rest = lines.dropFirst()
            if !rest.isEmpty {
                rv += "\n" + rest.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
            }
        }
        return first ? indention + rv : rv
    }

    private static func center(_ s: String, _ width: Int) throws(TemplateFailure) -> String {
        let n = PyText.length(s)
        guard width > n else { return s }
        let margin = width - n
        try RenderBudget.string(RenderBudget.sum(margin, s.utf8.count))
        let left = margin / 2 + (margin & width & 1)
        return String(repeating: " ", count: left) + s + String(repeating: " ", count: margin - left)
    }

    private static func truncate(_ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Value {
        let a = try args.bind(["length", "killwords", "end", "leeway"], "truncate")
        let s = try PyFormat.str(value)
        let length = try a[0].map { v throws(TemplateFailure) in try requireInt(v, "truncate") } ?? 255
        let killwords = a[1]?.isTruthy ?? false
        let end = try a[2].map { v throws(TemplateFailure) in try PyFormat.str(v) } ?? "..."
        let leeway = try a[3].map { v throws(TemplateFailure) in try requireInt(v, "truncate") } ?? 5
        let endLength = PyText.length(end)
        guard length >= endLength else { throw TemplateFailure("expected length >= \(endLength), got \(length)") }
        guard leeway >= 0 else { throw TemplateFailure("expected leeway >= 0, got \(leeway)") }
        let chars = PyText.scalars(s)
        if chars.count <= length + leeway { return .string(s) }
        let head = PyText.string(chars.prefix(length - endLength))
        if killwords { return .string(head + end) }
        return .string((try PyText.rsplit(head, sep: " ", maxsplit: 1)).first! + end)
    }

    private static func round(_ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Value {
        let a = try args.bind(["precision", "method"], "round")
        let precision = try a[0].map { v throws(TemplateFailure) in try requireInt(v, "round") } ?? 0
        let method: String
        switch a[1] {
        case nil: method = "common"
        case .string(let m)? where ["common", "ceil", "floor"].contains(m): method = m
        default: throw TemplateFailure("method must be common, ceil or floor")
        }
        if case .undefined(let u) = value { throw u.failure }
        guard let d = Builtins.toDouble(value) else {
            throw TemplateFailure("TypeError: type \(value.typeName) doesn't define __round__ method")
        }
        if method == "common" {
            // round(int, n) stays an int (n >= 0); round(float, n) is correctly rounded, ties to even.
            if case .int = value, precision >= 0 { return value }
            if case .bool(let b) = value, precision >= 0 { return .int(b ? 1 : 0) }
            if precision >= 0 {
                guard d.isFinite else { return .double(d) }
                return .double(Double(String(format: "%.\(min(precision, 340))f", d)) ?? d)
            }
            let scale = Foundation.pow(10.0, Double(-precision))
            let r = (d / scale).rounded(.toNearestOrEven) * scale
            if case .int = value { return .int(Int(r)) }
            return .double(r)
        }
        let scale = Foundation.pow(10.0, Double(precision))
        let scaled = d * scale
        return .double((method == "ceil" ? Foundation.ceil(scaled) : Foundation.floor(scaled)) / scale)
    }

    private static func map(_ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Value {
        let items = value.isTruthy ? try Operators.iterate(value) : []
        if args.positional.isEmpty, let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            var defaultValue: Value?
            for (k, v) in args.keyword where k != "attribute" {
                guard k == "default" else { throw TemplateFailure("Unexpected keyword argument '\(k)'") }
                defaultValue = v
            }
            let path = try attributePath(attribute)
            var out: [Value] = []
            for item in items {
                var v = item
                for part in path {
                    v = try Operators.item(v, part)
                    if let d = defaultValue, v.isUndefined, !isNone(d) { v = d }
                }
                out.append(v)
            }
            return .generator(out)
        }
        guard case .string(let filter)? = args.positional.first else {
            throw TemplateFailure("map requires a filter argument")
        }
        guard names.contains(filter) else { throw TemplateFailure.unsupported("unsupported filter '\(filter)'") }
        let rest = CallArgs(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        var out: [Value] = []
        for item in items { out.append(try apply(filter, item, rest)) }
        return .generator(out)
    }

    private static func select(_ name: String, _ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Value {
        let items = value.isTruthy ? try Operators.iterate(value) : []
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = args.positional[...]
        var path: [Value] = []
        if byAttribute {
            guard let attr = positional.popFirst() else { throw TemplateFailure("Missing parameter for attribute name") }
            path = try attributePath(attr)
        }
        var test: String?
        if let t = positional.popFirst() {
            guard case .string(let s) = t else { throw TemplateFailure("TypeError: test name must be a string") }
            guard Predicates.names.contains(s) else { throw TemplateFailure.unsupported("unsupported test '\(s)'") }
            test = s
        }
        let testArgs = CallArgs(positional: Array(positional), keyword: args.keyword)
        var out: [Value] = []
        for item in items {
            let subject = try lookup(item, path)
            let passed = try test.map { t throws(TemplateFailure) in try Predicates.apply(t, subject, testArgs) } ?? subject.isTruthy
            if passed == keep { out.append(item) }
        }
        return .generator(out)
    }
}
