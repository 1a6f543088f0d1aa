// Walks the AST and writes the output. Scoping follows jinja2: each for-loop iteration, macro call,
// `with`, `generation`, block-set and filter body gets a fresh frame whose writes stay inside it;
// `if` does not; reads walk outwards. Failures get the line of the innermost expression or statement.

struct Renderer {
    let clock: Clock
    let budget: RenderBudget
    private let calls = CallDepth()

    /// Nesting so far (macro calls; expression evaluations including those inside macros), bounded so a
    /// recursive macro or a pathological template fails cleanly instead of overflowing the stack.
    private final class CallDepth {
        var current = 0
        var evaluations = 0
        /// The line of the latest expression or loop, for failures found where no line is at hand.
        var line = 1
    }

    static let maxEvaluationDepth = 1500

    init(clock: Clock, budget: RenderBudget) {
        self.clock = clock
        self.budget = budget
    }

    enum Flow {
        case normal, breakLoop, continueLoop
    }

    /// Runs `body`, turning a line-less TemplateFailure into a ChatTemplateError at `line`.
    private func at<T>(_ line: Int, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let f as TemplateFailure {
            throw ChatTemplateError(f.kind, line: line, f.message)
        }
    }

    // MARK: - Statements

    func render(_ nodes: [Node], _ scope: Scope, _ out: inout String) throws -> Flow {
        for node in nodes {
            let flow = try render(node, scope, &out)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    private func render(_ node: Node, _ scope: Scope, _ out: inout String) throws -> Flow {
        let flow = try renderNode(node, scope, &out)
        if out.utf8.count > budget.limits.maxOutputBytes {
            throw ChatTemplateError(.limit, line: calls.line, "render budget exceeded: more than \(budget.limits.maxOutputBytes) bytes of output")
        }
        return flow
    }

    private func renderNode(_ node: Node, _ scope: Scope, _ out: inout String) throws -> Flow {
        switch node {
        case .text(let s):
            out += s
        case .output(let e):
            let v = try eval(e, scope)
            out += try at(e.line) { try PyFormat.str(v) }
        case .forLoop(let f):
            return try renderFor(f, scope, &out)
        case .ifChain(let branches, let otherwise):
            for branch in branches where try eval(branch.test, scope).isTruthy {
                return try render(branch.body, scope, &out)
            }
            return try render(otherwise, scope, &out)
        case .assign(let target, let e, let line):
            let v = try eval(e, scope)
            try at(line) { try bind(target, v, scope) }
        case .assignBlock(let target, let filters, let body, let line):
            var captured = try renderIsolated(body, scope)
            for f in filters { captured = try applyFilter(f, captured, scope) }
            try at(line) { try bind(target, captured, scope) }
        case .filterBlock(let filters, let body, let line):
            var captured = try renderIsolated(body, scope)
            for f in filters { captured = try applyFilter(f, captured, scope) }
            out += try at(line) { try PyFormat.str(captured) }
        case .macro(let definition):
            scope.set(definition.name, .macro(Macro(definition: definition, closure: scope, caller: nil)))
        case .callBlock(let call, let callerDefinition):
            guard case .call(let callee, let arguments) = call.kind else { return .normal }
            let caller = Value.macro(Macro(definition: callerDefinition, closure: scope, caller: nil))
            let v = try evalCall(callee, arguments, scope, line: call.line, caller: caller)
            out += try at(call.line) { try PyFormat.str(v) }
        case .with(let bindings, let body):
            let values = try bindings.map { try eval($0.value, scope) }
            let inner = Scope(parent: scope)
            for (b, v) in zip(bindings, values) { try at(b.value.line) { try bind(b.target, v, inner) } }
            return try render(body, inner, &out)
        case .loopControl(let isBreak, _):
            return isBreak ? .breakLoop : .continueLoop
        case .generation(let body):
            _ = try render(body, Scope(parent: scope), &out)
        }
        return .normal
    }

    private func renderIsolated(_ body: [Node], _ scope: Scope) throws -> Value {
        var buffer = ""
        _ = try render(body, Scope(parent: scope), &buffer)
        return .string(buffer)
    }

    private func renderFor(_ f: ForLoop, _ scope: Scope, _ out: inout String) throws -> Flow {
        let iterable = try eval(f.iterable, scope)
        var items = try at(f.iterable.line) { try Operators.iterate(iterable) }
        if let filter = f.filter {
            var kept: [Value] = []
            for item in items {
                try at(f.line) { try budget.step() }
                let s = Scope(parent: scope)
                try at(f.line) { try bind(f.target, item, s) }
                if try eval(filter, s).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            _ = try render(f.otherwise, Scope(parent: scope), &out)
            return .normal
        }
        let state = LoopState(items: items)
        for (i, item) in items.enumerated() {
            try at(f.line) { try budget.step() }
            let s = Scope(parent: scope)
            state.index0 = i
            s.set("loop", .loop(state))
            try at(f.line) { try bind(f.target, item, s) }
            if case .breakLoop = try render(f.body, s, &out) { break }
        }
        return .normal
    }

    /// Assigns to a name, unpacks into a tuple of targets, or sets a namespace attribute.
    private func bind(_ target: Target, _ value: Value, _ scope: Scope) throws {
        switch target {
        case .name(let n):
            scope.set(n, value)
        case .tuple(let targets):
            let items = try Operators.iterate(value)
            guard items.count >= targets.count else {
                throw TemplateFailure("ValueError: not enough values to unpack (expected \(targets.count), got \(items.count))")
            }
            guard items.count == targets.count else {
                throw TemplateFailure("ValueError: too many values to unpack (expected \(targets.count))")
            }
            for (t, v) in zip(targets, items) { try bind(t, v, scope) }
        case .attribute(let name, let attr):
            guard case .namespace(let ns)? = scope.lookup(name) else {
                throw TemplateFailure("cannot assign attribute on non-namespace object")
            }
            guard !attr.hasPrefix("_") else {
                throw TemplateFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attr)'.")
            }
            ns.attributes.setString(attr, value)
        }
    }

    // MARK: - Expressions

    func eval(_ e: Expr, _ scope: Scope) throws -> Value {
        calls.evaluations += 1
        defer { calls.evaluations -= 1 }
        guard calls.evaluations <= Renderer.maxEvaluationDepth else {
            throw ChatTemplateError(.runtime, line: e.line, "expressions nest deeper than \(Renderer.maxEvaluationDepth) levels while rendering")
        }
        calls.line = e.line
        return try at(e.line) {
            try budget.step()
            let v = try evalInner(e, scope)
            switch e.kind {
            case .literal, .name, .attribute, .item, .and, .or, .conditional: break
            default: try budget.charge(v)  // a value this expression created
            }
            return v
        }
    }

    private func evalInner(_ e: Expr, _ scope: Scope) throws -> Value {
        switch e.kind {
        case .literal(let l):
            switch l {
            case .string(let s): return .string(s)
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            case .bool(let b): return .bool(b)
            case .none: return .none
            }
        case .name(let n):
            if let v = scope.lookup(n) { return v }
            if Builtins.names.contains(n) { return .builtin(n) }
            return .undefined("'\(n)' is undefined")
        case .list(let items):
            return .list(try items.map { try eval($0, scope) })
        case .tuple(let items):
            return .tuple(try items.map { try eval($0, scope) })
        case .dict(let pairs):
            var d = Dict()
            for p in pairs { try d.set(try eval(p.key, scope), try eval(p.value, scope)) }
            return .dict(d)
        case .attribute(let obj, let name):
            return try Operators.attribute(try eval(obj, scope), name)
        case .item(let obj, let key):
            return try Operators.item(try eval(obj, scope), try eval(key, scope))
        case .slice(let obj, let start, let stop, let step):
            let o = try eval(obj, scope)
            return try Operators.slice(
                o, try start.map { try eval($0, scope) }, try stop.map { try eval($0, scope) },
                try step.map { try eval($0, scope) })
        case .call(let callee, let arguments):
            return try evalCall(callee, arguments, scope, line: e.line, caller: nil)
        case .filter(let obj, let f):
            return try applyFilter(f, try eval(obj, scope), scope)
        case .test(let obj, let name, let arguments, let negated):
            let v = try eval(obj, scope)
            let result = try Predicates.apply(name, v, try evalArguments(arguments, scope))
            return .bool(result != negated)
        case .negate(let x):
            return try Operators.negate(try eval(x, scope))
        case .plus(let x):
            return try Operators.plus(try eval(x, scope))
        case .binary(let op, let a, let b):
            let x = try eval(a, scope)
            let y = try eval(b, scope)
            return try Operators.binary(op, x, y)
        case .concat(let items):
            var s = ""
            for item in items { s += try PyFormat.str(try eval(item, scope)) }
            return .string(s)
        case .compare(let first, let ops):
            var left = try eval(first, scope)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr, scope)
                if try !Operators.compare(op, left, right) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let a, let b):
            let x = try eval(a, scope)
            return x.isTruthy ? try eval(b, scope) : x
        case .or(let a, let b):
            let x = try eval(a, scope)
            return x.isTruthy ? x : try eval(b, scope)
        case .not(let x):
            return .bool(!(try eval(x, scope).isTruthy))
        case .conditional(let test, let then, let otherwise):
            if try eval(test, scope).isTruthy { return try eval(then, scope) }
            if let otherwise { return try eval(otherwise, scope) }
            return .undefined(
                "the inline if-expression on line \(e.line) evaluated to false and no else section was defined.")
        }
    }

    private func evalArguments(_ a: Arguments, _ scope: Scope) throws -> CallArgs {
        CallArgs(
            positional: try a.positional.map { try eval($0, scope) },
            keyword: try a.keyword.map { ($0.name, try eval($0.value, scope)) })
    }

    private func applyFilter(_ f: FilterCall, _ value: Value, _ scope: Scope) throws -> Value {
        let args = try evalArguments(f.arguments, scope)
        return try at(f.line) { try Filters.apply(f.name, value, args) }
    }

    private func evalCall(_ callee: Expr, _ arguments: Arguments, _ scope: Scope, line: Int, caller: Value?) throws -> Value {
        let function = try eval(callee, scope)
        let args = try evalArguments(arguments, scope)
        return try at(line) {
            switch function {
            case .method(let receiver, let name): return try Methods.call(receiver, name, args)
            case .builtin(let name): return try Builtins.call(name, args, clock: clock)
            case .macro(let m): return try callMacro(m, args, caller: caller)
            case .undefined(let u):
                if case .name(let n) = callee.kind, Builtins.unsupportedJinjaGlobals.contains(n) {
                    throw TemplateFailure.unsupported("unsupported function '\(n)'")
                }
                throw u.failure
            default: throw TemplateFailure("TypeError: '\(function.typeName)' object is not callable")
            }
        }
    }

    /// Binds arguments the way jinja2's Macro.__call__ does, renders the body, returns its text.
    private func callMacro(_ m: Macro, _ args: CallArgs, caller: Value?) throws -> Value {
        let d = m.definition
        calls.current += 1
        defer { calls.current -= 1 }
        guard calls.current <= budget.limits.maxMacroDepth else {
            throw RenderBudget.exceeded("macro '\(d.name)' nested deeper than \(budget.limits.maxMacroDepth) calls (runaway recursion?)")
        }
        let s = Scope(parent: m.closure)
        var keywords = args.keyword
        if let caller {
            guard d.usesCaller else { throw TemplateFailure("TypeError: macro '\(d.name)' takes no keyword argument 'caller'") }
            s.set("caller", caller)
        } else if let i = keywords.firstIndex(where: { $0.0 == "caller" }), d.usesCaller {
            s.set("caller", keywords.remove(at: i).1)
        } else if d.usesCaller {
            s.set("caller", .undefined("No caller defined"))
        }
        for (i, p) in d.parameters.enumerated() {
            if i < args.positional.count {
                if keywords.contains(where: { $0.0 == p.name }) {
                    throw TemplateFailure("TypeError: macro '\(d.name)' got multiple values for argument '\(p.name)'")
                }
                s.set(p.name, args.positional[i])
            } else if let k = keywords.firstIndex(where: { $0.0 == p.name }) {
                s.set(p.name, keywords.remove(at: k).1)
            } else if let dflt = p.defaultValue {
                s.set(p.name, try eval(dflt, s))
            } else {
                s.set(p.name, .undefined("parameter '\(p.name)' was not provided"))
            }
        }
        let extra = Array(args.positional.dropFirst(d.parameters.count))
        if d.usesVarargs {
            s.set("varargs", .tuple(extra))
        } else if !extra.isEmpty {
            throw TemplateFailure("TypeError: macro '\(d.name)' takes not more than \(d.parameters.count) argument(s)")
        }
        if d.usesKwargs {
            var kw = Dict()
            for (k, v) in keywords { kw.setString(k, v) }
            s.set("kwargs", .dict(kw))
        } else if let first = keywords.first {
            throw TemplateFailure("TypeError: macro '\(d.name)' takes no keyword argument '\(first.0)'")
        }
        var buffer = ""
        _ = try render(d.body, s, &buffer)
        return .string(buffer)
    }
}
