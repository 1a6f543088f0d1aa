// The tokenizer a GGUF carries in its `tokenizer.ggml.*` keys (gguf.md L680-697), as TokenizerData:
// byte-level BPE ("gpt2" model: "a b" merges, the pre-tokenizer by name) or SentencePiece ("llama" model:
// scores, token types, add_space_prefix, as llama.cpp's SPM tokenizer); tokens in id order, control and
// user-defined tokens as added tokens, special ids turned into token strings.

import TensorFile

public enum GGUFTokenizer {
    /// The tokenizer and chat template of the GGUF file at `path` (tensors are not read).
    public static func load(path: String, notes: inout [String]) throws -> (TokenizerData, String?) {
        try read(GGUFKeys(file: GGUFFile(path: path)), notes: &notes)
    }

    /// tokenizer.ggml.pre → TokenizerData.preTokenizer.
    static let preTokenizers: [String: String] = [
        "smollm": "smollm", "llama-bpe": "llama3", "llama3": "llama3", "qwen2": "qwen2", "gpt-2": "gpt2", "gpt2": "gpt2",
    ]

    static func read(_ k: GGUFKeys, notes: inout [String]) throws -> (TokenizerData, String?) {
        let path = k.file.path
        let model = try k.requiredString("tokenizer.ggml.model")
        guard model == "gpt2" || model == "llama" else {
            throw ModelFileError(
                .unsupported, path, "tokenizer model \(model) is not supported (gpt2: byte-level BPE, llama: SentencePiece BPE)",
                at: "key tokenizer.ggml.model")
        }
        let sentencePiece = model == "llama"
        guard let tokens = try k.stringArray("tokenizer.ggml.tokens") else {
            throw ModelFileError(.missing, path, "required key tokenizer.ggml.tokens is missing")
        }
        // Byte-level BPE needs the key (an empty list is allowed); SentencePiece merges by score instead.
        let mergesValue = try k.stringArray("tokenizer.ggml.merges")
        if !sentencePiece && mergesValue == nil {
            throw ModelFileError(.missing, path, "required key tokenizer.ggml.merges is missing")
        }
        let merges = mergesValue ?? []
        for (i, m) in merges.enumerated() where TokenizerData.splitMerge(m) == nil {
            throw ModelFileError(.malformed, path, "merge \(i) \"\(m)\" is not two tokens separated by one space", at: "key tokenizer.ggml.merges")
        }

        var added: [AddedToken] = []
        var tokenTypes: [Int] = []
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
                tokenTypes.append(type)
                // 3 = CONTROL (special), 4 = USER_DEFINED; SentencePiece's 2 = UNKNOWN is matched in text too, as
                // llama.cpp and the Hugging Face conversion (<unk> an added special token) both do.
                if type == 3 || type == 4 || (sentencePiece && type == 2) {
                    added.append(AddedToken(id: id, content: tokens[id], special: type != 4))
                }
            }
        }
        if sentencePiece {
            return try readSentencePiece(k, tokens: tokens, added: added, tokenTypes: tokenTypes.isEmpty ? nil : tokenTypes)
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

    /// The "llama" model: llama.cpp's SentencePiece tokenizer. Scores rank the merges; add_space_prefix
    /// (default true) puts "▁" before each text piece between special tokens; add_bos_token defaults to true.
    private static func readSentencePiece(
        _ k: GGUFKeys, tokens: [String], added: [AddedToken], tokenTypes: [Int]?
    ) throws -> (TokenizerData, String?) {
        let path = k.file.path
        guard let scoreValues = try k.array("tokenizer.ggml.scores") else {
            throw ModelFileError(.missing, path, "required key tokenizer.ggml.scores is missing (the llama tokenizer model merges by score)")
        }
        guard scoreValues.count == tokens.count else {
            throw ModelFileError(
                .malformed, path, "tokenizer.ggml.scores has \(scoreValues.count) entries for \(tokens.count) tokens", at: "key tokenizer.ggml.scores"
            )
        }
        let scores = try scoreValues.map { v -> Float in
            guard let d = v.double else {
                throw ModelFileError(.malformed, path, "tokenizer.ggml.scores must hold numbers", at: "key tokenizer.ggml.scores")
            }
            return Float(d)
        }
        func token(_ key: String) throws -> String? {
            guard let id = try k.int(key) else { return nil }
            guard id >= 0, id < tokens.count else {
                throw ModelFileError(.malformed, path, "\(key) \(id) is out of range (\(tokens.count) tokens)", at: "key \(key)")
            }
            return tokens[id]
        }
        var options = SentencePieceOptions.llama(addSpacePrefix: try k.bool("tokenizer.ggml.add_space_prefix") ?? true)
        options.fuseUnk = false
        options.scores = scores
        options.tokenTypes = tokenTypes
        let unk = try token("tokenizer.ggml.unknown_token_id")
        options.unkToken = unk
        let data = TokenizerData(
            preTokenizer: "sentencepiece", vocab: tokens, merges: [], addedTokens: added,
            bosToken: try token("tokenizer.ggml.bos_token_id"), eosToken: try token("tokenizer.ggml.eos_token_id"),
            padToken: try token("tokenizer.ggml.padding_token_id"), unkToken: unk,
            addBosToken: try k.bool("tokenizer.ggml.add_bos_token") ?? true,
            addEosToken: try k.bool("tokenizer.ggml.add_eos_token") ?? false, sentencePiece: options)
        return (data, try k.string("tokenizer.chat_template"))
    }
}
