// Constructs this renderer does not implement, and syntax errors, fail loudly with the construct's name
// and the template line, never with a silently different render.

import ChatTemplate
import Testing

private func parseError(_ source: String) -> ChatTemplateError? {
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source) }
}

private func renderError(_ source: String, _ context: [String: JinjaValue] = [:]) -> ChatTemplateError? {
    #expect(throws: ChatTemplateError.self) { try ChatTemplate(source).render(context: context) }
}

@Test(arguments: [
    ("a\nb\n{{ x | wordwrap }}", 3, "unsupported filter 'wordwrap'"),
    ("{{ x | urlize }}", 1, "unsupported filter 'urlize'"),
    ("\n{% if x is escaped %}{% endif %}", 2, "unsupported test 'escaped'"),
    ("{% include 'other.jinja' %}", 1, "unsupported tag 'include'"),
    ("x\n\n\n{% extends 'base' %}", 4, "unsupported tag 'extends'"),
    ("{% do x.append(1) %}", 1, "unsupported tag 'do'"),
    ("{% for x in xs recursive %}{% endfor %}", 1, "unsupported recursive for-loop"),
    ("{{ f(*args) }}", 1, "unsupported *args/**kwargs in a call"),
])
func unsupportedAtParseTime(source: String, line: Int, message: String) {
    let e = parseError(source)
    #expect(e?.kind == .unsupported)
    #expect(e?.line == line)
    #expect(e?.message == message)
    #expect(e?.description == "chat template line \(line): \(message)")
}

@Test(arguments: [
    ("\n{{ 'a'.expandtabs() }}", 2, "unsupported method 'expandtabs' on str"),
    ("{{ l.append(3) }}", 1, "unsupported method 'append' on list (the sandbox forbids modifying it)"),
    ("{{ d.update({}) }}", 1, "unsupported method 'update' on dict (the sandbox forbids modifying it)"),
    ("\n\n{{ cycler('a') }}", 3, "unsupported function 'cycler'"),
    ("{{ '%x' % 5 }}", 1, "unsupported format conversion '%x'"),
    ("{{ strftime_now('%c') }}", 1, "unsupported strftime directive '%c'"),
])
func unsupportedAtRenderTime(source: String, line: Int, message: String) {
    let e = renderError(source, ["l": [1], "d": [:]])
    #expect(e?.kind == .unsupported)
    #expect(e?.line == line)
    #expect(e?.message == message)
}

@Test func unsupportedMethodInAnUntakenBranchRendersLikeJinja2() throws {
    // jinja2 only fails when the call runs; so do we
    #expect(try ChatTemplate("{% if false %}{{ l.append(1) }}{% endif %}ok").render(context: ["l": []]) == "ok")
}

@Test(arguments: [
    ("{% if x %}never closed", 1),
    ("{{ x ", 1),
    ("a\n{% endif %}", 2),
    ("{% for %}{% endfor %}", 1),
    ("\n{{ 'unterminated }}", 2),
    ("{# no end", 1),
    ("{{ (1, 2 }}", 1),
    ("{% macro m(a=1, b) %}{% endmacro %}", 1),
    ("{% break %}", 1),
    ("{% for i in l %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}", 1),
])
func syntaxErrorsNameTheLine(source: String, line: Int) {
    let e = parseError(source)
    #expect(e?.kind == .syntax)
    #expect(e?.line == line)
}

@Test func runtimeErrorsNameTheLine() {
    let e = renderError("ok\n{{ 1 + 'a' }}")
    #expect(e?.kind == .runtime)
    #expect(e?.line == 2)
    #expect(e?.message == "TypeError: unsupported operand type(s) for +: 'int' and 'str'")
    // Python integers are unbounded: where jinja2 would print a big integer we fail loudly instead
    for source in ["{{ 2 ** 100 }}", "{{ big | int }}", "{{ '123456789012345678901234567890' | int }}", "{{ 9223372036854775807 + 1 }}"] {
        let big = renderError(source, ["big": 1e20])
        #expect(big?.message.contains("integer overflow") == true, "\(source)")
    }
}

@Test func descriptionIsOneLine() {
    let e = ChatTemplateError(.raised, line: 7, "two\nlines")
    #expect(e.description == "chat template line 7: two\\nlines")
}

@Test func runawayNestingFailsCleanly() {
    let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
    #expect(parseError("{{ \(deep) }}")?.message.contains("nests deeper") == true)
    #expect(parseError("{{ " + String(repeating: "not ", count: 5000) + "x }}")?.kind == .syntax)
    let loops = String(repeating: "{% if x %}", count: 1000) + String(repeating: "{% endif %}", count: 1000)
    #expect(parseError(loops)?.kind == .syntax)
    let recursive = renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    #expect(recursive?.message.contains("nested deeper") == true)
    // legitimate recursion is fine
    let countdown = "{% macro down(n) %}{{ n }}{% if n > 0 %}{{ down(n - 1) }}{% endif %}{% endmacro %}{{ down(5) }}"
    #expect((try? ChatTemplate(countdown).render(context: [:])) == "543210")
}
