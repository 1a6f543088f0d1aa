// The tokenizer a GGUF carries in its `tokenizer.ggml.*` keys (gguf.md L680-697), as TokenizerData:
// byte-level BPE only ("gpt2" model), tokens in id order, "a b" merges, control and user-defined
// tokens as added tokens, special ids turned into token strings, and the pre-tokenizer by name.

import TensorFile

enum GGUFTokenizer {
    /// tokenizer.ggml.pre → TokenizerData.preTokenizer.
    static let preTokenizers: [String: String] = [
        "smollm": "smollm", "llama-bpe": "llama3", "llama3": "llama3", "qwen2": "qwen2", "gpt-2": "gpt2", "gpt2": "gpt2",
    ]

    static func read(_ k: GGUFKeys, notes: inout [String]) throws -> (TokenizerData, String?) {
        let path = k.file.path
        let model = try k.requiredString("tokenizer.ggml.model")
        guard model == "gpt2" else {
            let kind = model == "llama" ? " (SentencePiece)" : ""
            throw ModelFileError(
                .unsupported, path, "tokenizer model \(model)\(kind) is not supported; only byte-level BPE (gpt2) is",
                at: "key tokenizer.ggml.model")
        }
        guard let tokens = try k.stringArray("tokenizer.ggml.tokens") else {
            throw ModelFileError(.missing, path, "required key tokenizer.ggml.tokens is missing")
        }
        guard let merges = try k.stringArray("tokenizer.ggml.merges") else {
            throw ModelFileError(.missing, path, "required key tokenizer.ggml.merges is missing")
        }
        for (i, m) in merges.enumerated() where m.split(separator: " ", omittingEmptySubsequences: false).count != 2 {
            throw ModelFileError(.malformed, path, "merge \(i) \"\(m)\" is not two tokens separated by one space", at: "key tokenizer.ggml.merges")
        }

        var added: [AddedToken] = []
        if let types = try k.array("tokenizer.ggml.token_type") {
            guard types.count == tokens.count else {
                throw ModelFileError(
                    .malformed, path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens",
                    at: "key tokenizer.ggml.token_type")
            }
            for (id, t) in types.enumerated() {
                guard let type = t.int else {
                    throw ModelFileError(.malformed, path, "tokenizer.ggml.token_type must hold integers", at: "key tokenizer.ggml.token_type")
                }
                // 3 = CONTROL (special), 4 = USER_DEFINED.
                if type == 3 || type == 4 { added.append(AddedToken(id: id, content: tokens[id], special: type == 3)) }
            }
        }

        let preTokenizer: String
        let pre = try k.string("tokenizer.ggml.pre")
        if let pre, let mapped = preTokenizers[pre] {
            preTokenizer = mapped
        } else if pre == nil || pre == "default" {
            preTokenizer = "gpt2"
            notes.append("tokenizer.ggml.pre is \(pre.map { "\"\($0)\"" } ?? "absent"); using the GPT-2 pre-tokenizer, as llama.cpp does")
        } else {
            throw ModelFileError(
                .unsupported, path,
                "pre-tokenizer \(pre!) is not supported (\(preTokenizers.keys.sorted().joined(separator: ", ")))",
                at: "key tokenizer.ggml.pre")
        }

        func token(_ key: String) throws -> String? {
            guard let id = try k.int(key) else { return nil }
            guard id >= 0, id < tokens.count else {
                throw ModelFileError(.malformed, path, "\(key) \(id) is out of range (\(tokens.count) tokens)", at: "key \(key)")
            }
            return tokens[id]
        }
        let data = TokenizerData(
            preTokenizer: preTokenizer, vocab: tokens, merges: merges, addedTokens: added,
            bosToken: try token("tokenizer.ggml.bos_token_id"), eosToken: try token("tokenizer.ggml.eos_token_id"),
            padToken: try token("tokenizer.ggml.padding_token_id"), unkToken: try token("tokenizer.ggml.unknown_token_id"),
            addBosToken: try k.bool("tokenizer.ggml.add_bos_token") ?? false,
            addEosToken: try k.bool("tokenizer.ggml.add_eos_token") ?? false)
        return (data, try k.string("tokenizer.chat_template"))
    }
}
