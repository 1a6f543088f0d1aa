// The renderer's runtime values: JinjaValue plus what exists only while rendering (undefined, tuples,
// generators, namespaces, macros, loop state, bound methods, builtin functions).

// MARK: - Value

indirect enum Value {
    /// jinja2's default Undefined: prints as "", is falsy, iterates as empty, fails on any other use.
    case undefined(Undefined)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case tuple([Value])
    case dict(Dict)
    /// A one-shot Python iterator returned by filters like `map` or `selectattr`: always truthy, no length.
    case generator([Value])
    /// A `range(...)` or a dict view (`d.items()`): sized and iterable, printed the Python way.
    case view(ViewKind, [Value])
    case namespace(Namespace)
    case macro(Macro)
    case loop(LoopState)
    /// A method looked up on a value (`message.content.strip`), called later.
    case method(Value, String)
    /// A global function: range, namespace, dict, raise_exception, strftime_now.
    case builtin(String)

    init(_ j: JinjaValue) {
        switch j {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .bool(let b): self = .bool(b)
        case .none: self = .none
        case .array(let a): self = .list(a.map(Value.init))
        case .dictionary(let d):
            var dict = Dict()
            for (k, v) in d { dict.setString(k, Value(v)) }
            self = .dict(dict)
        }
    }

    static func undefined(_ hint: String) -> Value { .undefined(Undefined(hint: hint)) }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .list(let a), .tuple(let a): !a.isEmpty
        case .dict(let d): d.count > 0
        case .view(_, let items): !items.isEmpty
        case .generator, .namespace, .macro, .loop, .method, .builtin: true
        }
    }

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .generator: "generator"
        case .view(let kind, _): kind.typeName
        case .namespace: "Namespace"
        case .macro: "Macro"
        case .loop: "LoopContext"
        case .method: "builtin_function_or_method"
        case .builtin: "function"
        }
    }

    /// How jinja2 names an object in "has no attribute" messages.
    var objectDescription: String {
        if case .none = self { return "None" }
        return "\(typeName) object"
    }
}

enum ViewKind {
    case range(start: Int, stop: Int, step: Int)
    case dictItems, dictKeys, dictValues

    var typeName: String {
        switch self {
        case .range: "range"
        case .dictItems: "dict_items"
        case .dictKeys: "dict_keys"
        case .dictValues: "dict_values"
        }
    }
}

struct Undefined {
    /// The message raised when the undefined value is used, e.g. "'x' is undefined".
    let hint: String

    var failure: TemplateFailure { TemplateFailure(hint) }
}

// MARK: - Dict (insertion-ordered, Python key equality)

struct Dict {
    private(set) var keys: [Value] = []
    private(set) var values: [Value] = []
    private var index: [HashKey: Int] = [:]

    var count: Int { keys.count }

    /// Python hash equality: 1 == 1.0 == True. Lists and dicts are unhashable (nil).
    enum HashKey: Hashable {
        case none
        case int(Int)
        case double(Double)
        case string(String)
        case tuple([HashKey])

        init?(_ v: Value) {
            switch v {
            case .none: self = .none
            case .bool(let b): self = .int(b ? 1 : 0)
            case .int(let i): self = .int(i)
            case .double(let d):
                if d.rounded() == d, let i = Int(exactly: d) { self = .int(i) } else { self = .double(d) }
            case .string(let s): self = .string(s)
            case .tuple(let items):
                var keys: [HashKey] = []
                for item in items {
                    guard let k = HashKey(item) else { return nil }
                    keys.append(k)
                }
                self = .tuple(keys)
            default: return nil
            }
        }
    }

    func get(_ key: Value) -> Value? {
        guard let k = HashKey(key), let i = index[k] else { return nil }
        return values[i]
    }

    func get(_ key: String) -> Value? {
        guard let i = index[.string(key)] else { return nil }
        return values[i]
    }

    func contains(_ key: Value) throws(TemplateFailure) -> Bool {
        guard let k = HashKey(key) else { throw TemplateFailure("TypeError: unhashable type: '\(key.typeName)'") }
        return index[k] != nil
    }

    mutating func set(_ key: Value, _ value: Value) throws(TemplateFailure) {
        guard let k = HashKey(key) else { throw TemplateFailure("TypeError: unhashable type: '\(key.typeName)'") }
        if let i = index[k] {
            values[i] = value
        } else {
            index[k] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    mutating func setString(_ key: String, _ value: Value) {
        if let i = index[.string(key)] {
            values[i] = value
        } else {
            index[.string(key)] = keys.count
            keys.append(.string(key))
            values.append(value)
        }
    }

    var items: [(Value, Value)] { Array(zip(keys, values)) }
}

// MARK: - Reference values

/// `namespace(...)`: the one mutable object a template can write into from inside a loop.
final class Namespace {
    var attributes = Dict()
}

/// A `{% macro %}` (or the body of a `{% call %}` block, bound as `caller`), with the scope it was defined in.
struct Macro {
    let definition: MacroDefinition
    let closure: Scope
    let caller: Value?
}

/// The `loop` variable of one for-loop; `changed` keeps state across iterations.
final class LoopState {
    let items: [Value]
    var index0 = 0
    var lastChanged: [Value]?

    init(items: [Value]) { self.items = items }
}

// MARK: - Scope

/// A variable frame: the template root, each for-loop iteration, each macro call, `with` bodies.
/// `set` writes into the innermost frame; lookups walk outwards, as jinja2's compiled frames do.
final class Scope {
    private var variables: [String: Value] = [:]
    let parent: Scope?

    init(parent: Scope?) { self.parent = parent }

    func lookup(_ name: String) -> Value? {
        var s: Scope? = self
        while let current = s {
            if let v = current.variables[name] { return v }
            s = current.parent
        }
        return nil
    }

    func set(_ name: String, _ value: Value) { variables[name] = value }
}
