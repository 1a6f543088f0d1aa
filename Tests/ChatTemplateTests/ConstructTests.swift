// Hand-written expectations for each construct, readable on their own (the parity fixture checks the
// same ground against jinja2 itself).

import ChatTemplate
import Foundation
import Testing

/// Renders `source` with `context`.
private func render(_ source: String, _ context: [String: JinjaValue] = [:]) throws -> String {
    try ChatTemplate(source).render(context: context)
}

// MARK: - Whitespace

@Test func trimAndLstripBlocks() throws {
    // trim_blocks drops the newline after %}, lstrip_blocks drops the indentation before {%
    #expect(try render("{% if true %}\n  yes\n{% endif %}\n") == "  yes\n")
    #expect(try render("  {% if true %}\n    a\n  {% endif %}\nb") == "    a\nb")
    // but neither touches {{ }} lines
    #expect(try render("  {{ 'x' }}\n  {{ 'y' }}") == "  x\n  y")
}

@Test func explicitWhitespaceControl() throws {
    #expect(try render("x  {%- if true -%}  y  {%- endif -%}  z") == "xyz")
    #expect(try render("a\n  {{- 'b' -}}\n  c") == "abc")
    #expect(try render("  {%+ if true %}x{% endif %}") == "  x")
    #expect(try render("a {#- comment -#} b") == "ab")
}

@Test func rawBlocksAndComments() throws {
    #expect(try render("{% raw %}{{ kept }}{% endraw %}") == "{{ kept }}")
    #expect(try render("a{# {{ ignored }} #}b") == "ab")
}

@Test func newlinesAreNormalizedAndOneTrailingNewlineDropped() throws {
    #expect(try render("a\r\nb\rc\n\n") == "a\nb\nc\n")
}

// MARK: - Expressions

@Test func literalsPrintLikePython() throws {
    #expect(try render("{{ [1, 'a', none, true, 1.5, {'k': (1,)}] }}") == "[1, 'a', None, True, 1.5, {'k': (1,)}]")
    #expect(
        try render("{{ 10 / 4 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 1e16 }} {{ 1e15 }} {{ 1e-5 }}")
            == "2.5 2.0 3 -4 2 1e+16 1000000000000000.0 1e-05")
    #expect(try render(#"{{ "it's" }} {{ 'a\tb\u00e9\x41' }}"#) == "it's a\tbéA")
    #expect(try render("{{ ['it\\'s', 'x\\ny'] }}") == #"["it's", 'x\ny']"#)
}

@Test func attributesItemsAndSlices() throws {
    let ctx: [String: JinjaValue] = ["m": ["role": "user", "content": "hi"], "l": [1, 2, 3]]
    #expect(try render("{{ m.role }}{{ m['content'] }}{{ m.missing }}{{ l[-1] }}{{ l[9] }}", ctx) == "userhi3")
    #expect(try render("{{ l[::-1] }}{{ l[1:] }}{{ 'abc'[::-1] }}{{ 'héllo'[1:3] }}", ctx) == "[3, 2, 1][2, 3]cbaél")
}

@Test func operatorsAndComparisons() throws {
    #expect(try render("{{ 1 + 2 * 3 }}{{ 'a' ~ 1 ~ none }}{{ 'ab' * 2 }}{{ [1] + [2] }}") == "7a1Noneabab[1, 2]")
    #expect(try render("{{ 1 < 2 < 3 }}{{ 1 == 1.0 }}{{ 'b' in 'abc' }}{{ 3 not in [1, 2] }}{{ not none }}") == "TrueTrueTrueTrueTrue")
    #expect(try render("{{ 'x' if 0 else 'y' }}|{{ 'x' if false }}|{{ 0 or 'z' }}") == "y||z")
}

@Test func tests() throws {
    #expect(try render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}") == "FalseTrueTrueTrueTrue")
    #expect(
        try render("{{ {} is mapping }}{{ [] is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 3 is not eq 4 }}")
            == "TrueTrueTrueTrueTrueTrue")
    #expect(try render("{{ true is true }}{{ 1 is true }}{{ false is false }}{{ [1] is sequence }}") == "TrueFalseTrueTrue")
}

@Test func undefinedBehavesLikeJinja2() throws {
    #expect(try render("[{{ x }}]{% if x %}t{% else %}f{% endif %}{{ x | length }}{% for i in x %}i{% endfor %}{{ x | default('d') }}") == "[]f0d")
    let attr = #expect(throws: ChatTemplateError.self) { try render("{{ x.y }}") }
    #expect(attr?.message == "'x' is undefined")
    let nested = #expect(throws: ChatTemplateError.self) { try render("{{ m.a.b }}", ["m": [:]]) }
    #expect(nested?.message == "'dict object' has no attribute 'a'")
}

// MARK: - Filters and methods

@Test func stringFilters() throws {
    #expect(
        try render("{{ '  hi  ' | trim }}|{{ 'Hi' | upper }}|{{ 'Hi' | lower }}|{{ 'a b' | title }}|{{ 'aB' | capitalize }}") == "hi|HI|hi|A B|Ab")
    #expect(
        try render("{{ 'a-a' | replace('a', 'b') }}|{{ 'x\\ny' | indent(2) }}|{{ 1 | string }}|{{ '<&>' | escape }}") == "b-b|x\n  y|1|&lt;&amp;&gt;")
}

@Test func sequenceFilters() throws {
    let ctx: [String: JinjaValue] = ["ms": [["role": "system", "content": "s"], ["role": "user", "content": "u"]]]
    #expect(try render("{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", ctx) == "u")
    #expect(try render("{{ ms | rejectattr('role', 'equalto', 'user') | list | length }}{{ ms | first | attr('keys') is defined }}", ctx) == "1True")
    #expect(
        try render("{{ [3, 1, 2] | sort | join }}{{ ['b', 'A'] | sort | first }}{{ [1, 1, 2] | unique | list }}{{ [1, 2] | reverse | list }}")
            == "123A[1, 2][2, 1]")
    #expect(
        try render("{{ [1, 2] | last }}{{ [1, 2, 3] | select('odd') | list }}{{ [0, 1] | reject | list }}{{ [1.5, 2] | sum }}") == "2[1, 3][0]3.5")
    #expect(try render("{{ 2.5 | round }}{{ 2.567 | round(2) }}{{ '12' | int + 1 }}{{ 'x' | float }}{{ -2 | abs }}") == "2.02.57130.02")
    #expect(try render("{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}{{ {'b': 1, 'a': 2} | dictsort | first }}") == "a1('a', 2)")
}

@Test func tojsonLikeTransformers() throws {
    let ctx: [String: JinjaValue] = ["t": ["name": "f", "args": ["x": 1.5, "é": "\"q\"", "n": nil, "ok": true]]]
    // ensure_ascii=False, Python's ", " and ": " separators, key order kept
    #expect(try render("{{ t | tojson }}", ctx) == #"{"name": "f", "args": {"x": 1.5, "é": "\"q\"", "n": null, "ok": true}}"#)
    #expect(try render("{{ [1, {'a': []}] | tojson(indent=2) }}") == "[\n  1,\n  {\n    \"a\": []\n  }\n]")
    #expect(try render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ '<' | tojson }}") == #"{"a": 2, "b": 1}"<""#)
}

@Test func stringAndDictMethods() throws {
    #expect(
        try render("{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'ab'.startswith('a') }}|{{ 'x\\n'.rstrip('\\n') }}|{{ '{}-{}'.format(1, 'b') }}")
            == "a|['a', 'b']|True|x|1-b")
    #expect(
        try render("{{ d.get('a') }}{{ d.get('z', 0) }}{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}{{ d.keys() | list }}", ["d": ["a": 1]])
            == "10a=1['a']")
}

// MARK: - Statements

@Test func forLoopVariablesAndControl() throws {
    #expect(
        try render(
            "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}")
            == "10TrueFalse33;21FalseFalse32;32FalseTrue31;")
    #expect(try render("{% for i in range(4) %}{{ loop.previtem }}<{{ i }}>{{ loop.nextitem }}|{% endfor %}") == "<0>1|0<1>2|1<2>3|2<3>|")
    #expect(try render("{% for i in range(9) if i is even %}{{ i }}{% if loop.last %}!{% endif %}{% endfor %}") == "02468!")
    #expect(try render("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% elif i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}") == "023")
    #expect(try render("{% for i in [] %}x{% else %}none{% endfor %}{% for k, v in [['a', 1]] %}{{ k }}{{ v }}{% endfor %}") == "nonea1")
    #expect(try render("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}") == "aba")
}

@Test func ifElifElse() throws {
    let t = try ChatTemplate("{% if n > 1 %}many{% elif n == 1 %}one{% else %}none{% endif %}")
    #expect(try t.render(context: ["n": 2]) == "many")
    #expect(try t.render(context: ["n": 1]) == "one")
    #expect(try t.render(context: ["n": 0]) == "none")
}

@Test func setScopingAndNamespace() throws {
    // a set inside a loop stays in that iteration; namespace carries state out
    #expect(try render("{% set x = 1 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}") == "2221")
    #expect(try render("{% set ns = namespace(total=0) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}") == "6")
    #expect(try render("{% if true %}{% set y = 'kept' %}{% endif %}{{ y }}{% set a, b = 'xy' %}{{ b }}{{ a }}") == "keptyx")
    #expect(try render("{% set block %}  x {{ 1 }}{% endset %}[{{ block }}]") == "[  x 1]")
    #expect(try render("{% with v = 5 %}{{ v }}{% endwith %}[{{ v }}]") == "5[]")
}

@Test func macrosAndCallBlocks() throws {
    #expect(
        try render("{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('b', 'x') }}{{ tag(name='i') }}")
            == "<b>x</b><i></i>")
    #expect(try render("{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}inside{% endcall %}") == "[inside]")
    #expect(try render("{% generation %}{{ 'assistant text' }}{% endgeneration %}") == "assistant text")
}

@Test func globals() throws {
    #expect(try render("{{ range(3) | list }}{{ range(3) }}{{ dict(a=1) }}{{ namespace(a=2).a }}") == "[0, 1, 2]range(0, 3){'a': 1}2")
    let raised = #expect(throws: ChatTemplateError.self) {
        try render("line one\n{% if true %}\n{{ raise_exception('Roles must alternate: ' ~ n) }}\n{% endif %}", ["n": 3])
    }
    #expect(raised?.kind == .raised)
    #expect(raised?.message == "Roles must alternate: 3")
    #expect(raised?.line == 3)
}

@Test func strftimeNowUsesTheInjectedDate() throws {
    var t = try ChatTemplate("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %-d %B, %H:%M') }}")
    t.fixedDate = Fixtures.fixedDate
    t.timeZone = TimeZone(identifier: "UTC")!
    #expect(try t.render(context: [:]) == "09 Mar 2025|Sunday 9 March, 14:05")
    t.timeZone = TimeZone(secondsFromGMT: 11 * 3600)!
    #expect(try t.render(context: [:]) == "10 Mar 2025|Monday 10 March, 01:05")
}

// MARK: - Convenience API

@Test func renderMessagesBuildsTransformersContext() throws {
    let t = try ChatTemplate(
        "{{ bos_token }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|{{ messages[0].role }}:{{ messages[0].content }}|{{ extra_var }}"
    )
    let text = try t.render(
        messages: [ChatMessage(role: "user", content: "q")], addGenerationPrompt: true, bosToken: "<s>", eosToken: nil,
        extra: ["extra_var": ["k": 1]])
    #expect(text == "<s>||True|True|True|user:q|{'k': 1}")
}

// MARK: - JinjaValue

@Test func jinjaValueJSONKeepsOrderAndTypes() throws {
    let v = try JinjaValue(json: #"{"b": 1, "a": [1.0, -2, 3e2, "é\n\u00e9\ud83e\udd16", true, null], "c": {}}"#)
    guard case .dictionary(let d) = v else {
        Issue.record("not a dictionary")
        return
    }
    #expect(d.keys == ["b", "a", "c"])
    #expect(d["a"] == [1.0, -2, 300.0, "é\né🤖", true, nil])
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "{\"a\": }") }
    #expect(throws: JinjaJSONError.self) { try JinjaValue(json: "[1] 2") }
}

@Test func jinjaValueJSONFollowsPythonsRules() throws {
    // json.loads: NaN and the infinities are numbers, a repeated key keeps its first place and last value.
    guard case .dictionary(let d) = try JinjaValue(json: #"{"x": NaN, "y": [Infinity, -Infinity, 1e999], "x": 2, "z": 0}"#) else {
        Issue.record("not a dictionary")
        return
    }
    #expect(d.keys == ["x", "y", "z"])
    #expect(d["x"] == 2)
    #expect(d["y"] == [JinjaValue.double(.infinity), .double(-.infinity), .double(.infinity)])
    guard case .double(let nan) = try JinjaValue(json: "NaN") else {
        Issue.record("NaN is not a number")
        return
    }
    #expect(nan.isNaN)
    let e = try #require(throws: JinjaJSONError.self) { try JinjaValue(json: "[1, tru]") }
    #expect(e.offset == 4)
}

@Test func jinjaDictionaryLiteralsAndMutation() {
    var d: JinjaDictionary = ["z": 1, "a": 2]
    d["m"] = "x"
    d["z"] = 3
    #expect(d.keys == ["z", "a", "m"])
    d["a"] = nil
    #expect(d.keys == ["z", "m"])
    #expect(d == ["m": "x", "z": 3])
    let v: JinjaValue = ["role": "user", "n": 1, "f": 0.5, "ok": false, "none": nil, "list": [1, "2"]]
    #expect(v.dictionaryValue?.count == 6)
}
