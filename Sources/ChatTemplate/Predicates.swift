// The predicates jinja2 calls "tests" (`x is defined`, `x is divisibleby 3`, ...), with Python's type
// rules (bool counts as a number; undefined is iterable and a sequence).

enum Predicates {
    static let names: Set<String> = [
        "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string", "mapping",
        "sequence", "iterable", "callable", "sameas", "odd", "even", "divisibleby", "lower", "upper", "in", "filter",
        "test", "eq", "equalto", "==", "ne", "!=", "gt", "greaterthan", ">", "ge", ">=", "lt", "lessthan", "<", "le", "<=",
    ]

    static func apply(_ name: String, _ value: Value, _ args: CallArgs) throws(TemplateFailure) -> Bool {
        func one() throws(TemplateFailure) -> Value {
            let a = try args.bind(["other"], name)
            guard let other = a[0] else { throw TemplateFailure("TypeError: test '\(name)' needs an argument") }
            return other
        }
        func none() throws(TemplateFailure) { _ = try args.bind([], name) }

        switch name {
        case "defined":
            try none()
            return !value.isUndefined
        case "undefined":
            try none()
            return value.isUndefined
        case "none":
            try none()
            if case .none = value { return true }
            return false
        case "boolean":
            try none()
            if case .bool = value { return true }
            return false
        case "true", "false":
            try none()
            if case .bool(let b) = value { return b == (name == "true") }
            return false
        case "integer":
            try none()
            if case .int = value { return true }
            return false
        case "float":
            try none()
            if case .double = value { return true }
            return false
        case "number":
            try none()
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "string":
            try none()
            if case .string = value { return true }
            return false
        case "mapping":
            try none()
            if case .dict = value { return true }
            return false
        case "sequence":
            try none()
            switch value {
            case .string, .list, .tuple, .dict, .undefined, .view(.range, _): return true
            default: return false
            }
        case "iterable":
            try none()
            switch value {
            case .string, .list, .tuple, .dict, .undefined, .generator, .view: return true
            default: return false
            }
        case "callable":
            try none()
            switch value {
            case .macro, .method, .builtin, .loop, .undefined: return true  // Undefined defines __call__
            default: return false
            }
        case "sameas":
            let other = try one()
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "odd", "even":
            try none()
            let r = try Operators.binary(.modulo, value, .int(2))
            return Operators.equal(r, .int(name == "odd" ? 1 : 0))
        case "divisibleby":
            let other = try one()
            return Operators.equal(try Operators.binary(.modulo, value, other), .int(0))
        case "lower":
            try none()
            return PyText.isLower(try PyFormat.str(value))
        case "upper":
            try none()
            return PyText.isUpper(try PyFormat.str(value))
        case "in":
            return try Operators.contains(try one(), value)
        case "filter":
            try none()
            guard case .string(let s) = value else { return false }
            return Filters.names.contains(s)
        case "test":
            try none()
            guard case .string(let s) = value else { return false }
            return names.contains(s)
        case "eq", "equalto", "==": return Operators.equal(value, try one())
        case "ne", "!=": return !Operators.equal(value, try one())
        case "gt", "greaterthan", ">": return try Operators.less(try one(), value, op: ">")
        case "ge", ">=": return try Operators.compare(.greaterEqual, value, try one())
        case "lt", "lessthan", "<": return try Operators.less(value, try one(), op: "<")
        case "le", "<=": return try Operators.compare(.lessEqual, value, try one())
        default:
            throw TemplateFailure.unsupported("unsupported test '\(name)'")
        }
    }
}
