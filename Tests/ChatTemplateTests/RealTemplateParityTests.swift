// Thirteen real chat templates rendered over many conversations must match transformers byte for byte,
// and must raise the template's own raise_exception message where transformers does.

import ChatTemplate
import Foundation
import Testing

private let templates = [
    "smollm2", "llama3", "llama3_1", "llama3_2", "qwen2_5", "qwen3", "mistral_v0_1", "mistral_v0_3", "gemma", "gemma3",
    "zephyr", "phi3", "llama2",
]

@Test(arguments: templates)
func realTemplateMatchesTransformers(_ name: String) throws {
    let fixture = try Fixtures.json("chat_templates.json")
    let cases = (fixture["cases"]?.arrayValue ?? []).compactMap(\.dictionaryValue).filter { $0["template"] == .string(name) }
    #expect(cases.count >= 5, "fewer than 5 cases for \(name)")

    var template = try ChatTemplate(try Fixtures.template(name))
    template.fixedDate = Fixtures.fixedDate
    template.timeZone = TimeZone(identifier: "UTC")!

    for c in cases {
        let label = "\(name) \(c["name"]?.stringValue ?? "?")"
        let context = try #require(c["context"]?.dictionaryValue, "\(label): no context")
        let outcome = Expectation(c)
        let render: () throws -> String
        if c["simple"] == .bool(true) {
            // plain role/content messages: the convenience API must build the same context transformers does
            let messages = (context["messages"]?.arrayValue ?? []).compactMap(\.dictionaryValue).map {
                ChatMessage(role: $0["role"]?.stringValue ?? "", content: $0["content"]?.stringValue ?? "")
            }
            render = {
                try template.render(
                    messages: messages, addGenerationPrompt: context["add_generation_prompt"] == .bool(true),
                    bosToken: context["bos_token"]?.stringValue, eosToken: context["eos_token"]?.stringValue)
            }
        } else {
            var variables: [String: JinjaValue] = [:]
            for (k, v) in context { variables[k] = v }
            render = { try template.render(context: variables) }
        }
        if let expected = outcome.expected {
            #expect(try render() == expected, "\(label)")
        } else {
            do {
                let text = try render()
                Issue.record("\(label): expected an error (\(outcome.error ?? "")), rendered \(text.debugDescription)")
            } catch let e as ChatTemplateError {
                if outcome.raised {
                    #expect(e.kind == .raised, "\(label): \(e)")
                    #expect(e.message == outcome.error, "\(label)")
                }
            }
        }
    }
}

@Test func fixtureCoversEveryTemplateFile() throws {
    let files = try FileManager.default.contentsOfDirectory(
        at: Fixtures.directory.appendingPathComponent("templates"), includingPropertiesForKeys: nil)
    let names = Set(files.filter { $0.pathExtension == "jinja" }.map { $0.deletingPathExtension().lastPathComponent })
    #expect(names == Set(templates))
    let fixture = try Fixtures.json("chat_templates.json")
    #expect(fixture["fixed_date"] == .string("2025-03-09T14:05:07Z"))
}

@Test func smolLM2ConvenienceRender() throws {
    // The template stored in the SmolLM2 GGUF (its `tokenizer.chat_template` key): a default system prompt when none is given.
    let template = try ChatTemplate(try Fixtures.template("smollm2"))
    let text = try template.render(
        messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
    #expect(
        text == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    let withSystem = try template.render(
        messages: [
            ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Q"),
            ChatMessage(role: "assistant", content: "A"),
        ],
        addGenerationPrompt: false)
    #expect(withSystem == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n")
}

@Test func gemmaRaisesOnSystemRole() throws {
    let template = try ChatTemplate(try Fixtures.template("gemma"))
    let error = #expect(throws: ChatTemplateError.self) {
        try template.render(messages: [ChatMessage(role: "system", content: "x")], addGenerationPrompt: true, bosToken: "<bos>")
    }
    #expect(error?.kind == .raised)
    #expect(error?.message == "System role not supported")
    #expect(error?.description == "chat template line 1: System role not supported")
}
