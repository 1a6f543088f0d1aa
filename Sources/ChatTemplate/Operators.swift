// Python operator semantics for template values: + - * / // % **, ==, <, `in`, attribute and item
// lookup the way jinja2's sandbox does it (attribute first for `.x`, item first for `[x]`), and iteration.

import Foundation

enum Operators {
    // MARK: - Equality and ordering

    private enum Number {
        case int(Int)
        case double(Double)
    }

    private static func number(_ v: Value) -> Number? {
        switch v {
        case .bool(let b): .int(b ? 1 : 0)
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        default: nil
        }
    }

    /// Python `==`.
    static func equal(_ a: Value, _ b: Value) -> Bool {
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case (.int(let p), .int(let q)): return p == q
            case (.int(let p), .double(let q)): return Double(p) == q
            case (.double(let p), .int(let q)): return p == Double(q)
            case (.double(let p), .double(let q)): return p == q
            }
        }
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return PyText.equal(x, y)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x.items {
                guard let w = y.get(k), equal(v, w) else { return false }
            }
            return true
        case (.namespace(let x), .namespace(let y)): return x === y
        default: return false
        }
    }

    /// Python `<`, raising TypeError for unordered types.
    static func less(_ a: Value, _ b: Value, op: String = "<") throws(TemplateFailure) -> Bool {
        if case .undefined(let u) = a { throw u.failure }
        if case .undefined(let u) = b { throw u.failure }
        if let x = number(a), let y = number(b) {
            switch (x, y) {
            case (.int(let p), .int(let q)): return p < q
            case (.int(let p), .double(let q)): return Double(p) < q
            case (.double(let p), .int(let q)): return p < Double(q)
            case (.double(let p), .double(let q)): return p < q
            }
        }
        switch (a, b) {
        case (.string(let x), .string(let y)): return PyText.less(x, y)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) { return try less(p, q, op: op) }
            return x.count < y.count
        default:
            throw TemplateFailure(
                "TypeError: '\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    static func compare(_ op: CompareOperator, _ a: Value, _ b: Value) throws(TemplateFailure) -> Bool {
        switch op {
        case .equal: return equal(a, b)
        case .notEqual: return !equal(a, b)
        case .less: return try less(a, b, op: "<")
        case .lessEqual: return try less(a, b, op: "<=") || equal(a, b)
        case .greater: return try less(b, a, op: ">")
        case .greaterEqual: return try less(b, a, op: ">=") || equal(a, b)
        case .isIn: return try contains(b, a)
        case .notIn: return try !contains(b, a)
        }
    }

    /// Python `item in container`.
    static func contains(_ container: Value, _ item: Value) throws(TemplateFailure) -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                throw TemplateFailure("TypeError: 'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PyText.contains(s, sub)
        case .list(let items), .tuple(let items), .generator(let items), .view(_, let items):
            return items.contains { equal($0, item) }
        case .dict(let d): return try d.contains(item)
        case .undefined: return false
        default:
            throw TemplateFailure("TypeError: argument of type '\(container.typeName)' is not iterable")
        }
    }

    // MARK: - Arithmetic

    private static func overflow(_ op: BinaryOperator) -> TemplateFailure {
        TemplateFailure("integer overflow in '\(op.rawValue)' (Python integers are unbounded, this renderer's are 64-bit)")
    }

    private static func typeError(_ op: BinaryOperator, _ a: Value, _ b: Value) -> TemplateFailure {
        TemplateFailure("TypeError: unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
    }

    private static func repeatCount(_ v: Value) -> Int? {
        switch v {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    static func binary(_ op: BinaryOperator, _ a: Value, _ b: Value) throws(TemplateFailure) -> Value {
        if op == .modulo, case .string(let s) = a { return .string(try PercentFormat.format(s, b)) }
        if case .undefined(let u) = a { throw u.failure }
        if case .undefined(let u) = b { throw u.failure }
        if let x = number(a), let y = number(b) { return try arithmetic(op, x, y) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            try RenderBudget.string(RenderBudget.sum(x.utf8.count, y.utf8.count))
            return .string(x + y)
        case (.add, .list(let x), .list(let y)):
            try RenderBudget.items(RenderBudget.sum(x.count, y.count))
            return .list(x + y)
        case (.add, .tuple(let x), .tuple(let y)):
            try RenderBudget.items(RenderBudget.sum(x.count, y.count))
            return .tuple(x + y)
        case (.add, .string, _): throw TemplateFailure("TypeError: can only concatenate str (not \"\(b.typeName)\") to str")
        case (.add, .list, _): throw TemplateFailure("TypeError: can only concatenate list (not \"\(b.typeName)\") to list")
        case (.multiply, .string(let s), _) where repeatCount(b) != nil:
            return .string(try repeated(s, repeatCount(b)!))
        case (.multiply, _, .string(let s)) where repeatCount(a) != nil:
            return .string(try repeated(s, repeatCount(a)!))
        case (.multiply, .list(let items), _) where repeatCount(b) != nil:
            return .list(try repeated(items, repeatCount(b)!))
        case (.multiply, _, .list(let items)) where repeatCount(a) != nil:
            return .list(try repeated(items, repeatCount(a)!))
        case (.modulo, .string(let s), _):
            return .string(try PercentFormat.format(s, b))
        default:
            throw typeError(op, a, b)
        }
    }

    /// `s * n`, refused before allocating when the result would be over the render budget.
    private static func repeated(_ s: String, _ n: Int) throws(TemplateFailure) -> String {
        try RenderBudget.string(RenderBudget.product(s.utf8.count, n))
        return String(repeating: s, count: max(0, n))
    }

    private static func repeated(_ items: [Value], _ n: Int) throws(TemplateFailure) -> [Value] {
        try RenderBudget.items(RenderBudget.product(items.count, n))
        return Array([[Value]](repeating: items, count: max(0, n)).joined())
    }

    private static func arithmetic(_ op: BinaryOperator, _ x: Number, _ y: Number) throws(TemplateFailure) -> Value {
        if case .int(let p) = x, case .int(let q) = y {
            switch op {
            case .add:
                let (r, o) = p.addingReportingOverflow(q)
                if o { throw overflow(op) }
                return .int(r)
            case .subtract:
                let (r, o) = p.subtractingReportingOverflow(q)
                if o { throw overflow(op) }
                return .int(r)
            case .multiply:
                let (r, o) = p.multipliedReportingOverflow(by: q)
                if o { throw overflow(op) }
                return .int(r)
            case .divide:
                guard q != 0 else { throw TemplateFailure("ZeroDivisionError: division by zero") }
                return .double(Double(p) / Double(q))
            case .floorDivide:
                guard q != 0 else { throw TemplateFailure("ZeroDivisionError: integer division or modulo by zero") }
                if p == .min && q == -1 { throw overflow(op) }
                let d = p / q
                return .int((p % q != 0) && ((p < 0) != (q < 0)) ? d - 1 : d)
            case .modulo:
                guard q != 0 else { throw TemplateFailure("ZeroDivisionError: integer division or modulo by zero") }
                if q == -1 { return .int(0) }
                let r = p % q
                return .int(r != 0 && ((r < 0) != (q < 0)) ? r + q : r)
            case .power:
                if q < 0 { return .double(Foundation.pow(Double(p), Double(q))) }
                var result = 1
                var base = p
                var e = q
                while e > 0 {
                    if e & 1 == 1 {
                        let (r, o) = result.multipliedReportingOverflow(by: base)
                        if o { throw overflow(op) }
                        result = r
                    }
                    e >>= 1
                    if e > 0 {
                        let (b2, o) = base.multipliedReportingOverflow(by: base)
                        if o { throw overflow(op) }
                        base = b2
                    }
                }
                return .int(result)
            }
        }
        let a: Double
        let b: Double
        switch x {
        case .int(let i): a = Double(i)
        case .double(let d): a = d
        }
        switch y {
        case .int(let i): b = Double(i)
        case .double(let d): b = d
        }
        switch op {
        case .add: return .double(a + b)
        case .subtract: return .double(a - b)
        case .multiply: return .double(a * b)
        case .divide:
            guard b != 0 else { throw TemplateFailure("ZeroDivisionError: float division by zero") }
            return .double(a / b)
        case .floorDivide:
            guard b != 0 else { throw TemplateFailure("ZeroDivisionError: float floor division by zero") }
            return .double(Foundation.floor(a / b))
        case .modulo:
            guard b != 0 else { throw TemplateFailure("ZeroDivisionError: float modulo") }
            var r = Foundation.fmod(a, b)
            if r != 0 && ((r < 0) != (b < 0)) { r += b }
            return .double(r)
        case .power:
            if a == 0 && b < 0 { throw TemplateFailure("ZeroDivisionError: 0.0 cannot be raised to a negative power") }
            return .double(Foundation.pow(a, b))
        }
    }

    static func negate(_ v: Value) throws(TemplateFailure) -> Value {
        switch v {
        case .undefined(let u): throw u.failure
        case .bool(let b): return .int(b ? -1 : 0)
        case .int(let i):
            guard i != .min else { throw TemplateFailure("integer overflow in unary '-'") }
            return .int(-i)
        case .double(let d): return .double(-d)
        default: throw TemplateFailure("TypeError: bad operand type for unary -: '\(v.typeName)'")
        }
    }

    static func plus(_ v: Value) throws(TemplateFailure) -> Value {
        switch v {
        case .undefined(let u): throw u.failure
        case .bool(let b): return .int(b ? 1 : 0)
        case .int, .double: return v
        default: throw TemplateFailure("TypeError: bad operand type for unary +: '\(v.typeName)'")
        }
    }

    // MARK: - Iteration

    /// What `for x in v` visits: list items, string characters, dict keys; undefined is empty.
    static func iterate(_ v: Value) throws(TemplateFailure) -> [Value] {
        switch v {
        case .list(let items), .tuple(let items), .generator(let items), .view(_, let items): return items
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .dict(let d): return d.keys
        case .undefined: return []
        default: throw TemplateFailure("TypeError: '\(v.typeName)' object is not iterable")
        }
    }

    // MARK: - Attribute and item lookup

    /// `obj.name`: a Python attribute (methods, namespace and loop attributes) first, then `obj['name']`.
    static func attribute(_ obj: Value, _ name: String) throws(TemplateFailure) -> Value {
        if case .undefined(let u) = obj { throw u.failure }
        if let a = try pythonAttribute(obj, name) { return a }
        if case .dict(let d) = obj, let v = d.get(name) { return v }
        return .undefined("'\(obj.objectDescription)' has no attribute '\(name)'")
    }

    /// Attributes only (what `getattr` finds), nil when there is none.
    static func pythonAttribute(_ obj: Value, _ name: String) throws(TemplateFailure) -> Value? {
        switch obj {
        case .string where Methods.stringMethods.contains(name): return .method(obj, name)
        case .dict where Methods.dictMethods.contains(name): return .method(obj, name)
        case .list where Methods.listMethods.contains(name): return .method(obj, name)
        case .tuple where name == "count" || name == "index": return .method(obj, name)
        case .namespace(let ns): return ns.attributes.get(name)
        case .loop(let l): return loopAttribute(l, name)
        default: return nil
        }
    }

    private static func loopAttribute(_ l: LoopState, _ name: String) -> Value? {
        let n = l.items.count
        switch name {
        case "index": return .int(l.index0 + 1)
        case "index0": return .int(l.index0)
        case "revindex": return .int(n - l.index0)
        case "revindex0": return .int(n - l.index0 - 1)
        case "first": return .bool(l.index0 == 0)
        case "last": return .bool(l.index0 == n - 1)
        case "length": return .int(n)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return l.index0 > 0 ? l.items[l.index0 - 1] : .undefined("there is no previous item")
        case "nextitem": return l.index0 + 1 < n ? l.items[l.index0 + 1] : .undefined("there is no next item")
        case "cycle", "changed": return .method(.loop(l), name)
        default: return nil
        }
    }

    private static func index(_ key: Value) -> Int? {
        switch key {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// `obj[key]`: the item first, then (for a string key) the attribute; missing gives undefined.
    static func item(_ obj: Value, _ key: Value) throws(TemplateFailure) -> Value {
        if case .undefined(let u) = obj { throw u.failure }
        switch obj {
        case .list(let items), .tuple(let items), .view(.range, let items):
            if let i = index(key) {
                let j = i < 0 ? i + items.count : i
                if j >= 0 && j < items.count { return items[j] }
            }
        case .string(let s):
            if let i = index(key) {
                let a = PyText.scalars(s)
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return .string(String(a[j])) }
            }
        case .dict(let d):
            if let v = d.get(key) { return v }
        default:
            break
        }
        if case .string(let name) = key, let a = try pythonAttribute(obj, name) { return a }
        if case .string(let name) = key {
            return .undefined("'\(obj.objectDescription)' has no attribute '\(name)'")
        }
        return .undefined("\(obj.objectDescription) has no element \((try? PyFormat.repr(key)) ?? key.typeName)")
    }

    /// `obj[start:stop:step]`: a plain Python subscript (jinja2 does not route slices through its safe getitem).
    static func slice(_ obj: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws(TemplateFailure) -> Value {
        if case .undefined(let u) = obj { throw u.failure }
        func bound(_ v: Value?) throws(TemplateFailure) -> Int? {
            guard let v else { return nil }
            switch v {
            case .none: return nil
            case .int(let i): return i
            case .bool(let b): return b ? 1 : 0
            case .undefined(let u): throw u.failure
            default: throw TemplateFailure("TypeError: slice indices must be integers or None")
            }
        }
        let (a, b, c) = (try bound(start), try bound(stop), try bound(step))
        switch obj {
        case .list(let items), .view(.range, let items):
            return .list(try PyText.sliceIndices(count: items.count, start: a, stop: b, step: c).map { items[$0] })
        case .tuple(let items):
            return .tuple(try PyText.sliceIndices(count: items.count, start: a, stop: b, step: c).map { items[$0] })
        case .string(let s):
            let chars = PyText.scalars(s)
            return .string(PyText.string(try PyText.sliceIndices(count: chars.count, start: a, stop: b, step: c).map { chars[$0] }))
        case .dict:
            // jinja2 compiles slices to a plain Python subscript, so a dict raises
            throw TemplateFailure("TypeError: unhashable type: 'slice'")
        default:
            throw TemplateFailure("TypeError: '\(obj.typeName)' object is not subscriptable")
        }
    }
}
