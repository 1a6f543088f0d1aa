// Python methods callable from a template: str methods, the read-only dict and list methods (the
// sandbox forbids the mutating ones), and the loop's `cycle`/`changed`.

enum Methods {
    /// Every attribute name a Python str has that is a method (so `s.upper` is the method, never an item).
    static let stringMethods: Set<String> = [
        "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
        "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower",
        "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
        "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit",
        "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill",
    ]
    static let dictMethods: Set<String> = [
        "clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
    ]
    static let listMethods: Set<String> = [
        "append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort",
    ]

    static func call(_ receiver: Value, _ name: String, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch receiver {
        case .string(let s): return try string(s, name, args)
        case .dict(let d): return try dict(d, name, args)
        case .list(let items), .tuple(let items): return try list(items, name, args)
        case .loop(let l): return try loop(l, name, args)
        default: throw TemplateFailure.unsupported("unsupported method '\(name)' on \(receiver.typeName)")
        }
    }

    // MARK: - str

    private static func stringArg(_ v: Value?, _ what: String) throws(TemplateFailure) -> String {
        guard case .string(let s)? = v else {
            throw TemplateFailure("TypeError: \(what)() argument must be str, not \(v?.typeName ?? "nothing")")
        }
        return s
    }

    private static func optionalString(_ v: Value?, _ what: String) throws(TemplateFailure) -> String? {
        switch v {
        case nil, .none?: return nil
        default: return try stringArg(v, what)
        }
    }

    private static func optionalInt(_ v: Value?, _ what: String, _ dflt: Int) throws(TemplateFailure) -> Int {
        guard let v else { return dflt }
        return try Filters.requireInt(v, what)
    }

    private static func pad(_ s: String, _ args: CallArgs, _ name: String) throws(TemplateFailure) -> (Int, String) {
        let a = try args.bind(["width", "fillchar"], name)
        let width = try optionalInt(a[0], name, 0)
        let fill = try a[1].map { v throws(TemplateFailure) in try stringArg(v, name) } ?? " "
        guard PyText.length(fill) == 1 else { throw TemplateFailure("TypeError: The fill character must be exactly one character long") }
        let length = PyText.length(s)
        let n = width > length ? width - length : 0
        try RenderBudget.string(RenderBudget.sum(RenderBudget.product(n, fill.utf8.count), s.utf8.count))
        return (n, fill)
    }

    private static func string(_ s: String, _ name: String, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch name {
        case "upper", "lower", "casefold", "title", "capitalize", "swapcase":
            _ = try args.bind([], name)
            switch name {
            case "upper": return .string(PyText.upper(s))
            case "lower", "casefold": return .string(PyText.lower(s))
            case "title": return .string(PyText.title(s))
            case "capitalize": return .string(PyText.capitalize(s))
            default: return .string(PyText.swapcase(s))
            }
        case "strip", "lstrip", "rstrip":
            let a = try args.bind(["chars"], name)
            let chars = try optionalString(a[0], name)
            return .string(PyText.strip(s, chars: chars, left: name != "rstrip", right: name != "lstrip"))
        case "startswith", "endswith":
            let a = try args.bind(["prefix"], name)
            var candidates: [String] = []
            switch a[0] {
            case .string(let p)?: candidates = [p]
            case .tuple(let items)?:
                for item in items { candidates.append(try stringArg(item, name)) }
            default:
                throw TemplateFailure("TypeError: \(name) first arg must be str or a tuple of str, not \(a[0]?.typeName ?? "nothing")")
            }
            return .bool(candidates.contains { name == "startswith" ? PyText.hasPrefix(s, $0) : PyText.hasSuffix(s, $0) })
        case "split", "rsplit":
            let a = try args.bind(["sep", "maxsplit"], name)
            let sep = try optionalString(a[0], name)
            let maxsplit = try optionalInt(a[1], name, -1)
            let parts =
                name == "split"
                ? try PyText.split(s, sep: sep, maxsplit: maxsplit)
                : try PyText.rsplit(s, sep: sep, maxsplit: maxsplit)
            return .list(parts.map { .string($0) })
        case "splitlines":
            let a = try args.bind(["keepends"], name)
            return .list(PyText.splitlines(s, keepends: a[0]?.isTruthy ?? false).map { .string($0) })
        case "replace":
            let a = try args.bind(["old", "new", "count"], name)
            return .string(try PyText.replace(s, try stringArg(a[0], name), try stringArg(a[1], name), count: try optionalInt(a[2], name, -1)))
        case "find", "rfind", "index", "rindex", "count":
            let a = try args.bind(["sub"], name)
            let sub = try stringArg(a[0], name)
            if name == "count" { return .int(PyText.count(s, sub)) }
            let hay = PyText.scalars(s)
            let found = name.hasPrefix("r") ? PyText.rfind(hay, PyText.scalars(sub)) : PyText.find(hay, PyText.scalars(sub))
            if let found { return .int(found) }
            if name.hasSuffix("index") { throw TemplateFailure("ValueError: substring not found") }
            return .int(-1)
        case "partition", "rpartition":
            let a = try args.bind(["sep"], name)
            let sep = try stringArg(a[0], name)
            guard !sep.isEmpty else { throw TemplateFailure("ValueError: empty separator") }
            let hay = PyText.scalars(s)
            let n = PyText.scalars(sep)
            guard let at = name == "partition" ? PyText.find(hay, n) : PyText.rfind(hay, n) else {
                return name == "partition" ? .tuple([.string(s), .string(""), .string("")]) : .tuple([.string(""), .string(""), .string(s)])
            }
            return .tuple([.string(PyText.string(hay[..<at])), .string(sep), .string(PyText.string(hay[(at + n.count)...]))])
        case "removeprefix":
            let p = try stringArg(try args.bind(["prefix"], name)[0], name)
            return .string(PyText.hasPrefix(s, p) ? PyText.string(PyText.scalars(s).dropFirst(PyText.length(p))) : s)
        case "removesuffix":
            let p = try stringArg(try args.bind(["suffix"], name)[0], name)
            return .string(PyText.hasSuffix(s, p) && !p.isEmpty ? PyText.string(PyText.scalars(s).dropLast(PyText.length(p))) : s)
        case "join":
            let a = try args.bind(["iterable"], name)
            guard let iterable = a[0] else { throw TemplateFailure("TypeError: join() takes exactly one argument") }
            var parts: [String] = []
            for (i, item) in (try Operators.iterate(iterable)).enumerated() {
                guard case .string(let p) = item else {
                    throw TemplateFailure("TypeError: sequence item \(i): expected str instance, \(item.typeName) found")
                }
                parts.append(p)
            }
            try RenderBudget.string(
                RenderBudget.sum(parts.reduce(0) { RenderBudget.sum($0, $1.utf8.count) }, RenderBudget.product(parts.count, s.utf8.count)))
            return .string(parts.joined(separator: s))
        case "format":
            return .string(try BraceFormat.format(s, args.positional, args.keyword))
        case "center", "ljust", "rjust":
            let (n, fill) = try pad(s, args, name)
            switch name {
            case "ljust": return .string(s + String(repeating: fill, count: n))
            case "rjust": return .string(String(repeating: fill, count: n) + s)
            default:
                let width = n + PyText.length(s)
                let left = n / 2 + (n & width & 1)
                return .string(String(repeating: fill, count: left) + s + String(repeating: fill, count: n - left))
            }
        case "zfill":
            let width = try optionalInt(try args.bind(["width"], name)[0], name, 0)
            var chars = PyText.scalars(s)
            guard width > chars.count else { return .string(s) }
            let n = width - chars.count
            try RenderBudget.string(RenderBudget.sum(n, s.utf8.count))
            let signed = chars.first == "-" || chars.first == "+"
            chars.insert(contentsOf: Array(repeating: "0", count: n), at: signed ? 1 : 0)
            return .string(PyText.string(chars))
        case "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isnumeric", "isspace", "islower", "isupper":
            _ = try args.bind([], name)
            let chars = s.unicodeScalars
            switch name {
            case "isascii": return .bool(chars.allSatisfy { $0.isASCII })
            case "islower": return .bool(PyText.isLower(s))
            case "isupper": return .bool(PyText.isUpper(s))
            default: break
            }
            guard !chars.isEmpty else { return .bool(false) }
            let test: (Unicode.Scalar) -> Bool
            switch name {
            case "isalnum": test = { PyText.isAlpha($0) || PyText.isNumeric($0) }
            case "isalpha": test = PyText.isAlpha
            case "isdecimal": test = PyText.isDecimal
            case "isdigit": test = PyText.isDigit
            case "isnumeric": test = PyText.isNumeric
            default: test = PyText.isSpace
            }
            return .bool(chars.allSatisfy(test))
        default:
            throw TemplateFailure.unsupported("unsupported method '\(name)' on str")
        }
    }

    // MARK: - dict and list

    private static func dict(_ d: Dict, _ name: String, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch name {
        case "items":
            _ = try args.bind([], name)
            return .view(.dictItems, d.items.map { .tuple([$0.0, $0.1]) })
        case "keys":
            _ = try args.bind([], name)
            return .view(.dictKeys, d.keys)
        case "values":
            _ = try args.bind([], name)
            return .view(.dictValues, d.values)
        case "get":
            let a = try args.bind(["key", "default"], name)
            guard let key = a[0] else { throw TemplateFailure("TypeError: get expected at least 1 argument, got 0") }
            guard (try? d.contains(key)) != nil else { throw TemplateFailure("TypeError: unhashable type: '\(key.typeName)'") }
            return d.get(key) ?? a[1] ?? .none
        case "copy":
            _ = try args.bind([], name)
            return .dict(d)
        default:
            throw TemplateFailure.unsupported("unsupported method '\(name)' on dict (the sandbox forbids modifying it)")
        }
    }

    private static func list(_ items: [Value], _ name: String, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch name {
        case "count":
            let a = try args.bind(["value"], name)
            guard let v = a[0] else { throw TemplateFailure("TypeError: count() takes exactly one argument") }
            return .int(items.filter { Operators.equal($0, v) }.count)
        case "index":
            let a = try args.bind(["value"], name)
            guard let v = a[0] else { throw TemplateFailure("TypeError: index expected at least 1 argument") }
            guard let i = items.firstIndex(where: { Operators.equal($0, v) }) else {
                throw TemplateFailure("ValueError: \((try? PyFormat.repr(v)) ?? "value") is not in list")
            }
            return .int(i)
        case "copy":
            _ = try args.bind([], name)
            return .list(items)
        default:
            throw TemplateFailure.unsupported("unsupported method '\(name)' on list (the sandbox forbids modifying it)")
        }
    }

    // MARK: - loop

    private static func loop(_ l: LoopState, _ name: String, _ args: CallArgs) throws(TemplateFailure) -> Value {
        switch name {
        case "cycle":
            guard args.keyword.isEmpty else { throw TemplateFailure("TypeError: cycle() takes no keyword arguments") }
            guard !args.positional.isEmpty else { throw TemplateFailure("TypeError: no items for cycling given") }
            return args.positional[l.index0 % args.positional.count]
        case "changed":
            guard args.keyword.isEmpty else { throw TemplateFailure("TypeError: changed() takes no keyword arguments") }
            if let last = l.lastChanged, Operators.equal(.list(last), .list(args.positional)) { return .bool(false) }
            l.lastChanged = args.positional
            return .bool(true)
        default:
            throw TemplateFailure.unsupported("unsupported method '\(name)' on loop")
        }
    }
}
