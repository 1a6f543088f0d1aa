// Builds the AST from tokens following jinja2's parser (same precedence, same statement grammar).
// Unknown tags, filters and tests are rejected here (jinja2 rejects unknown filters and tests at compile
// time too), naming the construct and line; methods and functions are checked when called, as in jinja2.

struct Parser {
    private let tokens: [Token]
    private var i = 0
    /// How many for-loops enclose the current point (break/continue need one; macros and blocks reset it).
    private var loopDepth = 0
    /// Names read inside each macro body being parsed (to know whether it uses caller/varargs/kwargs).
    private var macroNameFrames: [Set<String>] = []
    /// Current nesting of statements and expressions; bounded so a hostile template cannot overflow the stack.
    private var depth = 0
    static let maxDepth = 200

    init(tokens: [Token]) { self.tokens = tokens }

    // MARK: - Token stream

    private var current: Token { tokens[i] }
    private var look: Token { tokens[min(i + 1, tokens.count - 1)] }

    @discardableResult
    private mutating func advance() -> Token {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
    }

    private func isName(_ n: String) -> Bool {
        if case .name(let v) = current.kind { return v == n }
        return false
    }

    private func isOp(_ o: String) -> Bool {
        if case .op(let v) = current.kind { return v == o }
        return false
    }

    private func fail(_ message: String, line: Int? = nil) -> ChatTemplateError {
        ChatTemplateError(.syntax, line: line ?? current.line, message)
    }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .data: "template data"
        case .variableBegin: "begin of print statement"
        case .variableEnd: "end of print statement"
        case .blockBegin: "begin of statement block"
        case .blockEnd: "end of statement block"
        case .name(let n): n
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .op(let o): o
        case .eof: "end of template"
        }
    }

    private mutating func expectOp(_ o: String) throws(ChatTemplateError) {
        guard isOp(o) else { throw fail("expected token '\(o)', got '\(describe(current))'") }
        advance()
    }

    private mutating func expectName(_ n: String? = nil) throws(ChatTemplateError) -> String {
        guard case .name(let v) = current.kind, n == nil || v == n else {
            throw fail("expected \(n.map { "'\($0)'" } ?? "a name"), got '\(describe(current))'")
        }
        advance()
        return v
    }

    private mutating func expectBlockEnd() throws(ChatTemplateError) {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block, got '\(describe(current))'") }
        advance()
    }

    // MARK: - Template and statement lists

    mutating func parseTemplate() throws(ChatTemplateError) -> [Node] {
        let body = try subparse(endTokens: [])
        guard current.kind == .eof else { throw fail("unexpected '\(describe(current))'") }
        return body
    }

    private mutating func subparse(endTokens: Set<String>) throws(ChatTemplateError) -> [Node] {
        var body: [Node] = []
        while true {
            switch current.kind {
            case .data(let s):
                advance()
                body.append(.text(s))
            case .variableBegin:
                advance()
                let e = try parseTuple()
                guard current.kind == .variableEnd else {
                    throw fail("expected end of print statement, got '\(describe(current))'")
                }
                advance()
                body.append(.output(e))
            case .blockBegin:
                advance()
                if case .name(let n) = current.kind, endTokens.contains(n) { return body }
                body.append(try parseStatement())
                try expectBlockEnd()
            case .eof:
                return body
            default:
                throw fail("unexpected '\(describe(current))'")
            }
        }
    }

    /// Parses `%}` then a body up to one of `endTokens` (left as current unless `dropNeedle`).
    private mutating func parseStatements(_ endTokens: Set<String>, dropNeedle: Bool = false)
        throws(ChatTemplateError) -> [Node]
    {
        if isOp(":") { advance() }
        try expectBlockEnd()
        let body = try subparse(endTokens: endTokens)
        if current.kind == .eof {
            let wanted = endTokens.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw fail("unexpected end of template, looking for \(wanted)")
        }
        if dropNeedle { advance() }
        return body
    }

    private static let endTags: Set<String> = [
        "endfor", "else", "elif", "endif", "endset", "endmacro", "endcall", "endfilter", "endwith", "endgeneration",
        "endraw",
    ]

    private mutating func parseStatement() throws(ChatTemplateError) -> Node {
        try nested { (p: inout Parser) throws(ChatTemplateError) in try p.parseStatementBody() }
    }

    private mutating func parseStatementBody() throws(ChatTemplateError) -> Node {
        guard case .name(let tag) = current.kind else { throw fail("tag name expected") }
        let line = current.line
        switch tag {
        case "for": return try parseFor()
        case "if": return try parseIf()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "call": return try parseCallBlock()
        case "filter":
            advance()
            let filters = try parseFilterChain(startInline: true)
            let body = try withoutLoop { (p: inout Parser) throws(ChatTemplateError) in
                try p.parseStatements(["endfilter"], dropNeedle: true)
            }
            return .filterBlock(filters: filters, body: body, line: line)
        case "with": return try parseWith()
        case "break", "continue":
            guard loopDepth > 0 else { throw fail("'\(tag)' outside loop") }
            advance()
            return .loopControl(isBreak: tag == "break", line: line)
        case "generation":
            advance()
            let body = try withoutLoop { (p: inout Parser) throws(ChatTemplateError) in
                try p.parseStatements(["endgeneration"], dropNeedle: true)
            }
            return .generation(body)
        case "print":
            advance()
            return .output(try parseTuple())
        default:
            if Parser.endTags.contains(tag) { throw fail("unexpected '\(tag)'") }
            throw ChatTemplateError(.unsupported, line: line, "unsupported tag '\(tag)'")
        }
    }

    /// Builds an expression node, failing cleanly when the tree grows deeper than `maxDepth`.
    private func makeExpr(_ kind: Expr.Kind, line: Int) throws(ChatTemplateError) -> Expr {
        let e = Expr(kind: kind, line: line)
        guard e.depth <= Parser.maxDepth else { throw fail("expression nests deeper than \(Parser.maxDepth) levels", line: line) }
        return e
    }

    /// Runs a nested parse, failing cleanly past `maxDepth`.
    private mutating func nested<T>(_ body: (inout Parser) throws(ChatTemplateError) -> T) throws(ChatTemplateError) -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Parser.maxDepth else { throw fail("template nests deeper than \(Parser.maxDepth) levels") }
        return try body(&self)
    }

    private mutating func withoutLoop<T>(_ body: (inout Parser) throws(ChatTemplateError) -> T)
        throws(ChatTemplateError) -> T
    {
        let saved = loopDepth
        loopDepth = 0
        defer { loopDepth = saved }
        return try body(&self)
    }

    private mutating func parseFor() throws(ChatTemplateError) -> Node {
        let line = advance().line
        let target = try parseAssignTarget(extraEndRules: ["in"])
        _ = try expectName("in")
        let iterable = try parseTuple(withCondexpr: false, extraEndRules: ["recursive"])
        var filter: Expr?
        if isName("if") {
            advance()
            filter = try parseExpression()
        }
        if isName("recursive") { throw ChatTemplateError(.unsupported, line: current.line, "unsupported recursive for-loop") }
        loopDepth += 1
        let body = try parseStatements(["endfor", "else"])
        loopDepth -= 1
        var otherwise: [Node] = []
        if case .name("else") = advance().kind {
            otherwise = try parseStatements(["endfor"], dropNeedle: true)
        }
        return .forLoop(ForLoop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line))
    }

    private mutating func parseIf() throws(ChatTemplateError) -> Node {
        advance()
        var branches: [(test: Expr, body: [Node])] = []
        var otherwise: [Node] = []
        while true {
            let test = try parseTuple(withCondexpr: false)
            let body = try parseStatements(["elif", "else", "endif"])
            branches.append((test, body))
            let t = advance()
            if case .name("elif") = t.kind { continue }
            if case .name("else") = t.kind { otherwise = try parseStatements(["endif"], dropNeedle: true) }
            break
        }
        return .ifChain(branches: branches, otherwise: otherwise)
    }

    private mutating func parseSet() throws(ChatTemplateError) -> Node {
        let line = advance().line
        let target = try parseAssignTarget(withNamespace: true)
        if isOp("=") {
            advance()
            return .assign(target, try parseTuple(), line: line)
        }
        let filters = try parseFilterChain(startInline: false)
        let body = try withoutLoop { (p: inout Parser) throws(ChatTemplateError) in
            try p.parseStatements(["endset"], dropNeedle: true)
        }
        return .assignBlock(target, filters: filters, body: body, line: line)
    }

    private mutating func parseSignature() throws(ChatTemplateError) -> [(name: String, defaultValue: Expr?)] {
        try expectOp("(")
        var params: [(name: String, defaultValue: Expr?)] = []
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            let name = try expectName()
            if isOp("=") {
                advance()
                params.append((name, try parseExpression()))
            } else {
                if params.contains(where: { $0.defaultValue != nil }) {
                    throw fail("non-default argument follows default argument")
                }
                params.append((name, nil))
            }
        }
        try expectOp(")")
        return params
    }

    /// Parses a macro-like body, recording which special names it reads.
    private mutating func parseMacroBody(
        name: String, parameters: [(name: String, defaultValue: Expr?)],
        endTag: String, line: Int
    ) throws(ChatTemplateError) -> MacroDefinition {
        macroNameFrames.append([])
        let body = try withoutLoop { (p: inout Parser) throws(ChatTemplateError) in
            try p.parseStatements([endTag], dropNeedle: true)
        }
        let names = macroNameFrames.removeLast()
        return MacroDefinition(
            name: name, parameters: parameters, body: body, usesCaller: names.contains("caller"),
            usesVarargs: names.contains("varargs"), usesKwargs: names.contains("kwargs"), line: line)
    }

    private mutating func parseMacro() throws(ChatTemplateError) -> Node {
        let line = advance().line
        let name = try expectName()
        let params = try parseSignature()
        return .macro(try parseMacroBody(name: name, parameters: params, endTag: "endmacro", line: line))
    }

    private mutating func parseCallBlock() throws(ChatTemplateError) -> Node {
        let line = advance().line
        let params = isOp("(") ? try parseSignature() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw fail("expected call", line: line) }
        let caller = try parseMacroBody(name: "caller", parameters: params, endTag: "endcall", line: line)
        return .callBlock(call: call, caller: caller)
    }

    private mutating func parseWith() throws(ChatTemplateError) -> Node {
        advance()
        var bindings: [(target: Target, value: Expr)] = []
        while current.kind != .blockEnd {
            if !bindings.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget()
            try expectOp("=")
            bindings.append((target, try parseExpression()))
        }
        let body = try parseStatements(["endwith"], dropNeedle: true)
        return .with(bindings: bindings, body: body)
    }

    // MARK: - Assignment targets

    private func isTupleEnd(_ extraEndRules: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .op(")"): return true
        case .name(let n): return extraEndRules.contains(n)
        default: return false
        }
    }

    private mutating func parseAssignTarget(extraEndRules: Set<String> = [], withNamespace: Bool = false)
        throws(ChatTemplateError) -> Target
    {
        var items: [Target] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEndRules) { break }
            items.append(try parseTargetPrimary(withNamespace: withNamespace))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            guard let only = items.first else { throw fail("expected an assignment target, got '\(describe(current))'") }
            return only
        }
        return .tuple(items)
    }

    private mutating func parseTargetPrimary(withNamespace: Bool) throws(ChatTemplateError) -> Target {
        if case .name(let n) = current.kind {
            if ["true", "false", "none", "True", "False", "None"].contains(n) { throw fail("can't assign to '\(n)'") }
            advance()
            if withNamespace && isOp(".") {
                advance()
                return .attribute(n, try expectName())
            }
            return .name(n)
        }
        if isOp("(") {
            advance()
            let t = try parseAssignTarget()
            try expectOp(")")
            return t
        }
        throw fail("can't assign to '\(describe(current))'")
    }

    // MARK: - Expressions (lowest to highest precedence)

    mutating func parseTuple(withCondexpr: Bool = true, extraEndRules: Set<String> = [], explicitParentheses: Bool = false)
        throws(ChatTemplateError) -> Expr
    {
        let line = current.line
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEndRules) { break }
            items.append(try parseExpression(withCondexpr: withCondexpr))
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("expected an expression, got '\(describe(current))'") }
        }
        return try makeExpr(.tuple(items), line: line)
    }

    private mutating func parseExpression(withCondexpr: Bool = true) throws(ChatTemplateError) -> Expr {
        try nested { (p: inout Parser) throws(ChatTemplateError) in
            withCondexpr ? try p.parseCondexpr() : try p.parseOr()
        }
    }

    private mutating func parseCondexpr() throws(ChatTemplateError) -> Expr {
        let line = current.line
        var e = try parseOr()
        while isName("if") {
            advance()
            let test = try parseOr()
            var otherwise: Expr?
            if isName("else") {
                advance()
                otherwise = try parseCondexpr()
            }
            e = try makeExpr(.conditional(test: test, then: e, otherwise: otherwise), line: line)
        }
        return e
    }

    private mutating func parseOr() throws(ChatTemplateError) -> Expr {
        var left = try parseAnd()
        while isName("or") {
            let line = advance().line
            left = try makeExpr(.or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws(ChatTemplateError) -> Expr {
        var left = try parseNot()
        while isName("and") {
            let line = advance().line
            left = try makeExpr(.and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws(ChatTemplateError) -> Expr {
        if isName("not") {
            let line = advance().line
            let operand = try nested { (p: inout Parser) throws(ChatTemplateError) in try p.parseNot() }
            return try makeExpr(.not(operand), line: line)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws(ChatTemplateError) -> Expr {
        let line = current.line
        let left = try parseMath1()
        var ops: [(CompareOperator, Expr)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o) {
                advance()
                ops.append((op, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append((.isIn, try parseMath1()))
            } else if isName("not"), case .name("in") = look.kind {
                advance()
                advance()
                ops.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : try makeExpr(.compare(left, ops), line: line)
    }

    private mutating func parseMath1() throws(ChatTemplateError) -> Expr {
        var left = try parseConcat()
        while isOp("+") || isOp("-") {
            let t = advance()
            guard case .op(let o) = t.kind else { break }
            left = try makeExpr(.binary(BinaryOperator(rawValue: o)!, left, try parseConcat()), line: t.line)
        }
        return left
    }

    private mutating func parseConcat() throws(ChatTemplateError) -> Expr {
        let line = current.line
        var items = [try parseMath2()]
        while isOp("~") {
            advance()
            items.append(try parseMath2())
        }
        return items.count == 1 ? items[0] : try makeExpr(.concat(items), line: line)
    }

    private mutating func parseMath2() throws(ChatTemplateError) -> Expr {
        var left = try parsePow()
        while isOp("*") || isOp("/") || isOp("//") || isOp("%") {
            let t = advance()
            guard case .op(let o) = t.kind else { break }
            left = try makeExpr(.binary(BinaryOperator(rawValue: o)!, left, try parsePow()), line: t.line)
        }
        return left
    }

    private mutating func parsePow() throws(ChatTemplateError) -> Expr {
        var left = try parseUnary()
        while isOp("**") {
            let line = advance().line
            left = try makeExpr(.binary(.power, left, try parseUnary()), line: line)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws(ChatTemplateError) -> Expr {
        let line = current.line
        var node: Expr
        if isOp("-") || isOp("+") {
            let negate = isOp("-")
            advance()
            let operand = try nested { (p: inout Parser) throws(ChatTemplateError) in try p.parseUnary(withFilter: false) }
            node = try makeExpr(negate ? .negate(operand) : .plus(operand), line: line)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws(ChatTemplateError) -> Expr {
        let t = current
        switch t.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return try makeExpr(.literal(.bool(true)), line: t.line)
            case "false", "False": return try makeExpr(.literal(.bool(false)), line: t.line)
            case "none", "None": return try makeExpr(.literal(.none), line: t.line)
            default:
                for k in macroNameFrames.indices { macroNameFrames[k].insert(n) }
                return try makeExpr(.name(n), line: t.line)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind {
                s += more
                advance()
            }
            return try makeExpr(.literal(.string(s)), line: t.line)
        case .integer(let v):
            advance()
            return try makeExpr(.literal(.int(v)), line: t.line)
        case .float(let v):
            advance()
            return try makeExpr(.literal(.double(v)), line: t.line)
        case .op("("):
            advance()
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return try makeExpr(.list(items), line: t.line)
        case .op("{"):
            advance()
            var pairs: [(key: Expr, value: Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return try makeExpr(.dict(pairs), line: t.line)
        default:
            throw fail("unexpected '\(describe(t))'")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws(ChatTemplateError) -> Expr {
        var node = start
        while true {
            if isOp(".") || isOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private mutating func parseFilterExpr(_ start: Expr) throws(ChatTemplateError) -> Expr {
        var node = start
        while true {
            if isOp("|") {
                for f in try parseFilterChain(startInline: false) { node = try makeExpr(.filter(node, f), line: f.line) }
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                node = try parseCall(node)
            } else {
                return node
            }
        }
    }

    private enum Subscript {
        case index(Expr)
        case slice(Expr?, Expr?, Expr?)
    }

    private mutating func parseSubscript(_ node: Expr) throws(ChatTemplateError) -> Expr {
        let t = advance()
        if case .op(".") = t.kind {
            let attr = advance()
            switch attr.kind {
            case .name(let n): return try makeExpr(.attribute(node, n), line: t.line)
            case .integer(let v): return try makeExpr(.item(node, try makeExpr(.literal(.int(v)), line: attr.line)), line: t.line)
            default: throw fail("expected name or number", line: attr.line)
            }
        }
        var args: [Subscript] = []
        while !isOp("]") {
            if !args.isEmpty { try expectOp(",") }
            args.append(try parseSubscribed())
        }
        try expectOp("]")
        if args.count == 1 {
            switch args[0] {
            case .index(let e): return try makeExpr(.item(node, e), line: t.line)
            case .slice(let a, let b, let c): return try makeExpr(.slice(node, start: a, stop: b, step: c), line: t.line)
            }
        }
        var items: [Expr] = []
        for a in args {
            guard case .index(let e) = a else {
                throw ChatTemplateError(.unsupported, line: t.line, "unsupported multi-dimensional slice")
            }
            items.append(e)
        }
        return try makeExpr(.item(node, try makeExpr(.tuple(items), line: t.line)), line: t.line)
    }

    private mutating func parseSubscribed() throws(ChatTemplateError) -> Subscript {
        var parts: [Expr?] = []
        if isOp(":") {
            advance()
            parts = [nil]
        } else {
            let e = try parseExpression()
            if !isOp(":") { return .index(e) }
            advance()
            parts = [e]
        }
        if isOp(":") {
            parts.append(nil)
        } else if !isOp("]") && !isOp(",") {
            parts.append(try parseExpression())
        } else {
            parts.append(nil)
        }
        if isOp(":") {
            advance()
            parts.append(!isOp("]") && !isOp(",") ? try parseExpression() : nil)
        } else {
            parts.append(nil)
        }
        return .slice(parts[0], parts[1], parts[2])
    }

    private mutating func parseCallArguments() throws(ChatTemplateError) -> Arguments {
        let open = current.line
        try expectOp("(")
        var args = Arguments()
        var requireComma = false
        while !isOp(")") {
            if requireComma {
                try expectOp(",")
                if isOp(")") { break }
            }
            if isOp("*") || isOp("**") {
                throw ChatTemplateError(.unsupported, line: current.line, "unsupported *args/**kwargs in a call")
            }
            if case .name(let n) = current.kind, case .op("=") = look.kind {
                advance()
                advance()
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty { throw fail("invalid syntax for function call expression", line: open) }
                args.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOp(")")
        return args
    }

    private mutating func parseCall(_ node: Expr) throws(ChatTemplateError) -> Expr {
        let line = current.line
        return try makeExpr(.call(node, try parseCallArguments()), line: line)
    }

    private mutating func parseFilterChain(startInline: Bool) throws(ChatTemplateError) -> [FilterCall] {
        var filters: [FilterCall] = []
        var inline = startInline
        while isOp("|") || inline {
            if !inline { advance() }
            inline = false
            let line = current.line
            var name = try expectName()
            while isOp(".") {
                advance()
                name += "." + (try expectName())
            }
            guard Filters.names.contains(name) else {
                throw ChatTemplateError(.unsupported, line: line, "unsupported filter '\(name)'")
            }
            let args = isOp("(") ? try parseCallArguments() : Arguments()
            filters.append(FilterCall(name: name, arguments: args, line: line))
        }
        return filters
    }

    private mutating func parseTest(_ node: Expr) throws(ChatTemplateError) -> Expr {
        let line = advance().line
        var negated = false
        if isName("not") {
            advance()
            negated = true
        }
        let nameLine = current.line
        var name = try expectName()
        while isOp(".") {
            advance()
            name += "." + (try expectName())
        }
        var args = Arguments()
        if isOp("(") {
            args = try parseCallArguments()
        } else {
            var takesArgument = false
            switch current.kind {
            case .name(let n): takesArgument = !["else", "or", "and"].contains(n)
            case .string, .integer, .float, .op("("), .op("["), .op("{"): takesArgument = true
            default: break
            }
            if takesArgument {
                if isName("is") { throw fail("You cannot chain multiple tests with is") }
                args.positional = [try parsePostfix(try parsePrimary())]
            }
        }
        guard Predicates.names.contains(name) else {
            throw ChatTemplateError(.unsupported, line: nameLine, "unsupported test '\(name)'")
        }
        return try makeExpr(.test(node, name: name, args, negated: negated), line: line)
    }
}
