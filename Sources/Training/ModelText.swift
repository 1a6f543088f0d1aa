// The text side of a base model, built from its MTF metadata: the BPE tokenizer and the chat template,
// adapted into the TokenizationContext the data pipeline uses.

import ChatTemplate
import TensorFile
import Tokenizer

public struct ModelText: Sendable {
    public let tokenizer: BPETokenizer
    public let template: ChatTemplate?
    public let metadata: MTFMetadata

    public init(_ metadata: MTFMetadata) throws {
        self.metadata = metadata
        tokenizer = try BPETokenizer(metadata.tokenizer)
        // errors name the model the template came from
        template = try metadata.chatTemplate.map { try ChatTemplate($0, name: metadata.provenance.sourceName) }
    }

    /// The text side of an opened model file; an error (a bad tokenizer or chat template) names the file.
    public init(file: MappedTensorFile) throws {
        do { try self.init(file.metadata) } catch { throw ArgumentError("\(file.path): \(error)") }
    }

    /// Renders messages with the model's chat template, as transformers' apply_chat_template.
    public func render(_ messages: [(role: String, content: String)], addGenerationPrompt: Bool) throws -> String {
        guard let template else { throw ArgumentError("the model has no chat template") }
        var context: [String: JinjaValue] = [
            "messages": .array(messages.map { ["role": .string($0.role), "content": .string($0.content)] }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": .none,
            "documents": .none,
        ]
        if let b = metadata.tokenizer.bosToken { context["bos_token"] = .string(b) }
        if let e = metadata.tokenizer.eosToken { context["eos_token"] = .string(e) }
        return try template.render(context: context)
    }

    /// The data pipeline's view: plain text gets the tokenizer's special tokens, chat renders do not.
    public var context: TokenizationContext {
        let tok = tokenizer
        let hasTemplate = template != nil
        return TokenizationContext(
            encode: { text, special in tok.encode(text, addSpecialTokens: special) },
            eosToken: metadata.tokenizer.eosToken,
            renderChat: hasTemplate
                ? { messages, gen in try self.render(messages.map { ($0.role, $0.content) }, addGenerationPrompt: gen) } : nil,
            bosTokenId: tok.bosTokenId)
    }
}
