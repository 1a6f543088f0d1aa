// Small templates, one construct each, rendered by transformers' environment: same text, or an error
// where jinja2 raises (with the same message for raise_exception).

import ChatTemplate
import Foundation
import Testing

@Test func constructsMatchJinja2() throws {
    let fixture = try Fixtures.json("constructs.json")
    var context: [String: JinjaValue] = [:]
    for (k, v) in try #require(fixture["context"]?.dictionaryValue) { context[k] = v }
    let cases = (fixture["cases"]?.arrayValue ?? []).compactMap(\.dictionaryValue)
    #expect(cases.count > 100)
    for c in cases {
        let source = try #require(c["template"]?.stringValue)
        let outcome = Expectation(c)
        do {
            var template = try ChatTemplate(source)
            template.fixedDate = Fixtures.fixedDate
            template.timeZone = TimeZone(identifier: "UTC")!
            let text = try template.render(context: context)
            if let expected = outcome.expected {
                #expect(text == expected, "template: \(source.debugDescription)")
            } else {
                Issue.record("expected an error (\(outcome.error ?? "")) for \(source.debugDescription), got \(text.debugDescription)")
            }
        } catch let e as ChatTemplateError {
            if outcome.expected != nil {
                Issue.record("unexpected error \(e) for \(source.debugDescription)")
            } else if outcome.raised {
                #expect(e.kind == .raised && e.message == outcome.error, "template: \(source.debugDescription): \(e)")
            }
        }
    }
}
