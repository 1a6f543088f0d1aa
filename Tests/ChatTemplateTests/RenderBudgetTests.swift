// Templates are untrusted code: each way a template can burn memory or time fails quickly with one clear
// line (kind .limit, the template's name and line), and legitimate templates are not touched by the budget.

import ChatTemplate
import Foundation
import Testing

private let templateName = "models/evil/tokenizer_config.json"

/// Renders `source` under `limits`, expecting a budget failure; returns it and the seconds it took.
private func budgetError(_ source: String, _ limits: RenderLimits = .standard) -> (ChatTemplateError?, Double) {
    let start = Date()
    var error: ChatTemplateError?
    do {
        var template = try ChatTemplate(source, name: templateName)
        template.limits = limits
        let out = try template.render(context: [:])
        Issue.record("rendered \(out.utf8.count) bytes instead of failing")
    } catch let e as ChatTemplateError {
        error = e
    } catch {
        Issue.record("unexpected error \(error)")
    }
    return (error, Date().timeIntervalSince(start))
}

@Test(arguments: [
    ("huge string repeat", "{{ 'x' * 10**12 }}", 1),
    ("center", "\n{{ 'x'.center(10**10) }}", 2),
    ("center filter", "{{ 'x' | center(10**10) }}", 1),
    ("ljust at Int.max", "{{ 'x'.ljust(9223372036854775807) }}", 1),
    ("rjust at Int.max with a wide fill", "{{ 'x'.rjust(9223372036854775807, 'é') }}", 1),
    ("zfill", "{{ '7'.zfill(10**12) }}", 1),
    ("brace format width", "{{ '{:>10000000000}'.format('x') }}", 1),
    ("brace format width beyond Int", "{{ '{:>99999999999999999999999}'.format('x') }}", 1),
    ("brace format precision", "{{ '{:.1000000000f}'.format(1.5) }}", 1),
    ("percent format width", "{{ '%10000000000s' % 'x' }}", 1),
    ("percent format precision", "{{ '%.1000000000f' % 1.5 }}", 1),
    ("indent width", "{{ 'a\nb' | indent(10**10) }}", 1),
    ("indent first line", "{{ 'a' | indent(10**10, true) }}", 1),
    ("tojson indent", "{{ [1] | tojson(indent=10**10) }}", 1),
    ("list repeat", "{{ ([1] * 10**12) | length }}", 1),
    ("replace every gap", "{% set s = 'x' * 1000000 %}{{ s.replace('', 'y' * 1000) }}", 1),
    ("batch fill", "{{ [1] | batch(10**12, 0) | list }}", 1),
    ("printing a shared nested list", "{% set a = [1] * 1000 %}{% set b = [a] * 1000 %}{% set c = [b] * 1000 %}{{ c }}", 1),
    ("tojson of a shared nested list", "{% set a = [1] * 1000 %}{% set b = [a] * 1000 %}{% set c = [b] * 1000 %}{{ c | tojson }}", 1),
    (
        "doubling in a loop",
        "{% set ns = namespace(s='x') %}\n{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}", 2
    ),
    ("doubling a list in a loop", "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", 1),
    (
        "a macro calling itself twice, 40 deep",
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}\n{{ f(40) }}", 1
    ),
    ("two nested range(100000) loops", "{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}", 2),
    ("endless output", "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' * 10000 }}{% endfor %}{% endfor %}", 1),
])
func runawayTemplateHitsTheBudget(name: String, source: String, line: Int) {
    let (error, seconds) = budgetError(source)
    #expect(error?.kind == .limit, "\(name): \(error?.description ?? "no error")")
    #expect(error?.message.hasPrefix("render budget exceeded") == true, "\(name)")
    #expect(error?.line ?? 0 >= line, "\(name): line \(error?.line ?? 0)")
    #expect(error?.description.hasPrefix("chat template of \(templateName), line ") == true, "\(name)")
    #expect(seconds < 30, "\(name) took \(seconds) s")
}

@Test func integerOverflowIsAnErrorNotATrap() {
    let (error, _) = budgetError("{{ 'x'.ljust(2**63 - 1) }}")
    #expect(error?.kind == .runtime)
    #expect(error?.message.contains("integer overflow in '**'") == true)
    for source in ["{{ 9223372036854775807 + 1 }}", "{{ -9223372036854775807 - 2 }}", "{{ 2**62 * 4 }}", "{{ (-9223372036854775807 - 1) // -1 }}"] {
        #expect(throws: ChatTemplateError.self, "\(source)") { try ChatTemplate(source).render(context: [:]) }
    }
    // ljust/zfill at the most negative width: nothing to pad, no trap
    let smallest = "{% set m = -9223372036854775807 - 1 %}{{ 'x'.ljust(m) }}{{ 'y'.zfill(m) }}{{ 'z'.center(m) }}"
    #expect((try? ChatTemplate(smallest).render(context: [:])) == "xyz")
    // widths and precisions that fit are untouched, an empty precision included
    #expect((try? ChatTemplate("{{ '%.f|%5.1f|{:>4}|{:.2f}' % (2.5, 1.25) }}").render(context: [:])) == "2|  1.2|{:>4}|{:.2f}")
    #expect((try? ChatTemplate("{{ '{:>4}|{:.2f}'.format('a', 1.5) }}").render(context: [:])) == "   a|1.50")
}

@Test func eachLimitHasItsOwnError() {
    let tight = RenderLimits(maxOutputBytes: 100, maxStringBytes: 50, maxListItems: 10, maxCreatedBytes: 1000, maxSteps: 500, maxMacroDepth: 3)
    let cases: [(String, String)] = [
        ("{% for i in range(20) %}{{ 'abcdefghij' }}{% endfor %}", "more than 100 bytes of output"),
        ("{{ 'x' * 51 }}", "a string of 51 bytes (the limit is 50)"),
        ("{{ range(11) | list }}", "a list of 11 items (the limit is 10)"),
        ("{% for i in range(1000) %}{% endfor %}", "more than 500 evaluation steps"),
        ("{% for i in range(20) %}{% set s = 'x' * 40 %}{% set t = s ~ s[:2] %}{% endfor %}", "more than 1000 bytes of values"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "macro 'f' nested deeper than 3 calls"),
    ]
    for (source, message) in cases {
        let (error, _) = budgetError(source, tight)
        #expect(error?.kind == .limit, "\(source)")
        #expect(error?.message.contains(message) == true, "\(source): \(error?.message ?? "no error")")
    }
}

@Test func generousTemplatesStayUnderTheBudget() throws {
    // a long conversation through a real-world style template, a thousand turns
    let source = """
        {% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' + '\\n' }}{% endfor %}\
        {% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """
    let turns = (0..<1000).map { ChatMessage(role: $0 % 2 == 0 ? "user" : "assistant", content: String(repeating: "word ", count: 200)) }
    let out = try ChatTemplate(source).render(messages: turns, addGenerationPrompt: true)
    #expect(out.utf8.count > 1_000_000)
    // jinja2's own cap: range(100000) is allowed, and so is a loop over it
    #expect(try ChatTemplate("{% for i in range(100000) %}{% endfor %}{{ range(100000) | length }}").render(context: [:]) == "100000")
}

@Test func parseErrorsNameTheTemplate() {
    #expect(throws: ChatTemplateError.self) { try ChatTemplate("{% if x %}", name: "a/chat_template.jinja") }
    do {
        _ = try ChatTemplate("\n{{ x + }}", name: "a/chat_template.jinja")
        Issue.record("parsed a broken template")
    } catch {
        #expect(error.description.hasPrefix("chat template of a/chat_template.jinja, line 2: "))
    }
}
