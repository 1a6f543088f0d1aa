// The public entry point: parse a Hugging Face chat template once, render conversations with it.
// Rendering matches transformers' apply_chat_template (jinja2 with trim_blocks, lstrip_blocks,
// loopcontrols, raise_exception, strftime_now and its own tojson) byte for byte on the supported subset.

import Foundation

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct ChatTemplate: Sendable {
    public let source: String
    /// Where the template came from (a file path or model name); errors name it.
    public let name: String?
    /// The render budget; the defaults fit every real template (see RenderLimits).
    public var limits = RenderLimits.standard
    private let nodes: [Node]
    /// When set, `strftime_now` formats this instant instead of the current time (for reproducible renders).
    public var fixedDate: Date?
    /// The time zone `strftime_now` formats in (Python's datetime.now() uses local time).
    public var timeZone: TimeZone = .current

    /// Parses the template; throws a ChatTemplateError naming the line of a syntax error or of a construct
    /// this renderer does not support (and `name`, when given).
    public init(_ source: String, name: String? = nil) throws(ChatTemplateError) {
        self.source = source
        self.name = name
        do throws(ChatTemplateError) {
            var lexer = Lexer(source)
            var parser = Parser(tokens: try lexer.tokenize())
            nodes = try parser.parseTemplate()
        } catch {
            var e = error
            e.template = name
            throw e
        }
    }

    /// Renders a plain conversation as transformers does: `messages` (role/content dicts),
    /// `add_generation_prompt`, `tools` and `documents` (both none), `bos_token`/`eos_token` when given,
    /// and any extra variables (which override the others).
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String? = nil,
        eosToken: String? = nil, extra: [String: JinjaValue] = [:]
    ) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map { ["role": .string($0.role), "content": .string($0.content)] }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": .none,
            "documents": .none,
        ]
        if let bosToken { context["bos_token"] = .string(bosToken) }
        if let eosToken { context["eos_token"] = .string(eosToken) }
        for (k, v) in extra { context[k] = v }
        return try render(context: context)
    }

    /// Renders with exactly these template variables.
    public func render(context: [String: JinjaValue]) throws -> String {
        let globals = Scope(parent: nil)
        for (k, v) in context { globals.set(k, Value(v)) }
        var out = ""
        let budget = RenderBudget(limits)
        let renderer = Renderer(clock: Clock(fixedDate: fixedDate, timeZone: timeZone), budget: budget)
        do {
            try RenderBudget.$current.withValue(budget) {
                _ = try renderer.render(nodes, Scope(parent: globals), &out)
            }
        } catch let f as TemplateFailure {
            throw ChatTemplateError(f.kind, line: 1, f.message, template: name)
        } catch var e as ChatTemplateError {
            e.template = name
            throw e
        }
        return out
    }
}
