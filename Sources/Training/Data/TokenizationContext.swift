// The tokenizer and chat template as the data pipeline sees them: a few closures, so the real BPE tokenizer and
// Jinja renderer (or a toy byte tokenizer in tests) plug in without this target depending on their types.

// MARK: - Context

public struct TokenizationContext {
    /// Text to token ids. `addSpecialTokens` mirrors Hugging Face: true for plain text (the tokenizer adds BOS if
    /// it normally does), false for chat-template output (the template already wrote any BOS).
    public var encode: (_ text: String, _ addSpecialTokens: Bool) throws -> [Int]
    /// The EOS token's text, appended to plain-text completions that do not already end with it; nil: nothing appended.
    public var eosToken: String?
    /// Renders messages with the chat template; `addGenerationPrompt` is true for the prompt alone.
    /// Nil when the model has no template: conversational records then fail with a chat-template error.
    public var renderChat: ((_ messages: [ChatMessage], _ addGenerationPrompt: Bool) throws -> String)?
    /// The BOS id, only used to count sequences that start with two BOS tokens (a template that writes BOS as text
    /// plus a tokenizer that adds one); nil: not checked.
    public var bosTokenId: Int?

    public init(
        encode: @escaping (_ text: String, _ addSpecialTokens: Bool) throws -> [Int],
        eosToken: String?,
        renderChat: ((_ messages: [ChatMessage], _ addGenerationPrompt: Bool) throws -> String)? = nil,
        bosTokenId: Int? = nil
    ) {
        self.encode = encode
        self.eosToken = eosToken
        self.renderChat = renderChat
        self.bosTokenId = bosTokenId
    }
}
