// The parsed template: statements (Node) and expressions (Expr), each carrying its source line.

// MARK: - Expressions

struct Expr: Sendable {
    indirect enum Kind: Sendable {
        case literal(Literal)
        case name(String)
        case list([Expr])
        case tuple([Expr])
        case dict([(key: Expr, value: Expr)])
        /// `a.b`
        case attribute(Expr, String)
        /// `a[b]`
        case item(Expr, Expr)
        /// `a[start:stop:step]`
        case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
        case call(Expr, Arguments)
        case filter(Expr, FilterCall)
        /// `a is [not] name args`
        case test(Expr, name: String, Arguments, negated: Bool)
        case negate(Expr)
        case plus(Expr)
        case binary(BinaryOperator, Expr, Expr)
        /// `a ~ b ~ c`
        case concat([Expr])
        /// `a < b <= c`, Python-style chained comparison.
        case compare(Expr, [(CompareOperator, Expr)])
        case and(Expr, Expr)
        case or(Expr, Expr)
        case not(Expr)
        /// `then if test else otherwise`; no else yields undefined.
        case conditional(test: Expr, then: Expr, otherwise: Expr?)
    }

    let kind: Kind
    let line: Int
    /// Height of this expression tree (a leaf is 1); the parser bounds it so evaluation cannot overflow the stack.
    let depth: Int

    init(kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
        var children: [Expr] = []
        switch kind {
        case .literal, .name: break
        case .list(let items), .tuple(let items), .concat(let items): children = items
        case .dict(let pairs): children = pairs.flatMap { [$0.key, $0.value] }
        case .attribute(let e, _), .negate(let e), .plus(let e), .not(let e), .filter(let e, _): children = [e]
        case .item(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): children = [a, b]
        case .slice(let e, let a, let b, let c): children = [e] + [a, b, c].compactMap { $0 }
        case .call(let e, let args), .test(let e, _, let args, _):
            children = [e] + args.positional + args.keyword.map(\.value)
        case .compare(let e, let ops): children = [e] + ops.map(\.1)
        case .conditional(let t, let a, let b): children = [t, a] + (b.map { [$0] } ?? [])
        }
        if case .filter(_, let f) = kind {
            children += f.arguments.positional + f.arguments.keyword.map(\.value)
        }
        depth = 1 + (children.map(\.depth).max() ?? 0)
    }
}

enum Literal: Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case none
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case isIn = "in", notIn = "not in"
}

struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(name: String, value: Expr)] = []
}

struct FilterCall: Sendable {
    let name: String
    let arguments: Arguments
    let line: Int
}

// MARK: - Statements

indirect enum Node: Sendable {
    case text(String)
    case output(Expr)
    case forLoop(ForLoop)
    case ifChain(branches: [(test: Expr, body: [Node])], otherwise: [Node])
    case assign(Target, Expr, line: Int)
    /// `{% set x | filters %}body{% endset %}`
    case assignBlock(Target, filters: [FilterCall], body: [Node], line: Int)
    case macro(MacroDefinition)
    /// `{% call macro(args) %}body{% endcall %}`: the body becomes `caller` inside the macro.
    case callBlock(call: Expr, caller: MacroDefinition)
    case filterBlock(filters: [FilterCall], body: [Node], line: Int)
    case with(bindings: [(target: Target, value: Expr)], body: [Node])
    case loopControl(isBreak: Bool, line: Int)
    /// transformers' `{% generation %}` block: renders its body in its own scope.
    case generation([Node])
}

struct ForLoop: Sendable {
    let target: Target
    let iterable: Expr
    let filter: Expr?
    let body: [Node]
    let otherwise: [Node]
    let line: Int
}

indirect enum Target: Sendable {
    case name(String)
    case tuple([Target])
    /// `ns.attr` (only namespaces may be assigned into)
    case attribute(String, String)
}

struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(name: String, defaultValue: Expr?)]
    let body: [Node]
    /// Whether the body mentions `caller`, `varargs`, `kwargs` (jinja2 decides the signature from this).
    let usesCaller: Bool
    let usesVarargs: Bool
    let usesKwargs: Bool
    let line: Int
}
