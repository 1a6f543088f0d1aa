// Hugging Face tokenizer files → TokenizerData and chat template (the JSON huggingface/tokenizers
// serializes, and transformers' tokenizer_config.json): tokenizer.json (a
// byte-level BPE model, the pre-tokenizer recognised by its structure and regex; or a SentencePiece-style
// BPE with byte_fallback, see HFSentencePiece; merges as "a b" strings or [a, b] pairs),
// tokenizer_config.json (special tokens, add_bos_token, chat_template, and for Llama/Gemma classes the
// pipeline transformers rebuilds) and chat_template.jinja, which wins when present.

import Foundation
import JSON
import TensorFile

public enum HFTokenizer {
    /// The Split regexes LeanDPO's tokenizer implements, by TokenizerData.preTokenizer name.
    static let splitRegexes: [String: String] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "llama3",
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            "llama3",
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: "qwen2",
    ]

    /// Reads the tokenizer files of a model directory. `config` supplies bos/eos ids when
    /// tokenizer_config.json does not name the tokens.
    public static func load(directory: String, config: ModelConfig?, notes: inout [String]) throws -> (TokenizerData, String?) {
        let tokPath = directory + "/tokenizer.json"
        guard FileManager.default.fileExists(atPath: tokPath) else {
            throw ModelFileError(
                .missing, tokPath,
                "tokenizer.json is missing; only fast (tokenizers-library) tokenizers are supported (HINT: save the tokenizer with a recent transformers)"
            )
        }
        let cfgPath = directory + "/tokenizer_config.json"
        let tokenizerConfig = FileManager.default.fileExists(atPath: cfgPath) ? try JSONValue.read(cfgPath) : nil
        let (tokenizerJSON, exactVocab) = try readTokenizerJSON(tokPath)
        var data = try tokenizerData(tokenizerJSON, exactVocab: exactVocab, path: tokPath, notes: &notes)
        if data.family == .sentencePieceBPE, let tokenizerConfig {
            if config?.architecture == .mistral || config?.architecture == .phi3 {
                // transformers 5's AutoTokenizer registers TokenizersBackend for model_type mistral (and phi3) and, when the
                // hub class (LlamaTokenizer) differs, loads tokenizer.json as written instead of rebuilding it.
                notes.append(
                    "\(cfgPath): model_type \(config!.architecture.rawValue): tokenizer.json's own pipeline, as transformers 5's AutoTokenizer loads it"
                )
            } else {
                try HFSentencePiece.applyTransformersPipeline(tokenizerConfig, to: &data, path: cfgPath, notes: &notes)
            }
        }
        try applyTokenizerConfig(
            tokenizerConfig, to: &data, path: cfgPath, config: config, postProcessor: postProcessorAdds(tokenizerJSON), notes: &notes)
        if config?.architecture == .phi3 {
            // model_type phi3 is one transformers 5 forces to TokenizersBackend without tokenizer_config.json's
            // add_bos_token / add_eos_token: tokenizer.json's post-processor alone decides (Phi-3's says BOS).
            let adds = postProcessorAdds(tokenizerJSON)
            data.addBosToken = adds?.bos ?? false
            data.addEosToken = adds?.eos ?? false
        }

        var template: String?
        let jinja = directory + "/chat_template.jinja"
        if FileManager.default.fileExists(atPath: jinja) {
            do {
                template = try String(contentsOfFile: jinja, encoding: .utf8)
            } catch {
                throw ModelFileError(.io, jinja, "cannot read as UTF-8 text")
            }
        } else if let t = tokenizerConfig?["chat_template"], !t.isNull {
            template = try chatTemplate(t, path: cfgPath, notes: &notes)
        }
        return (data, template)
    }

    // MARK: - tokenizer.json

    /// tokenizer.json as a JSONValue plus model.vocab's entries as written: JSONValue's objects are keyed by
    /// String, which merges canonically equivalent tokens ("▁é" precomposed and decomposed) that
    /// SentencePiece vocabularies hold as two ids.
    public static func readTokenizerJSON(_ path: String) throws -> (JSONValue, [(key: String, value: JSONNode)]?) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelFileError(.io, path, "cannot read: \((error as NSError).localizedDescription)")
        }
        let node: JSONNode
        do throws(JSONSyntaxError) {
            node = try JSONReader.parse(data, rules: .strict)
        } catch {
            throw ModelFileError(.malformed, path, "invalid JSON: \(error.message)", at: "line \(error.line), column \(error.column)")
        }
        var exactVocab: [(key: String, value: JSONNode)]?
        if case .object(let top) = node, let model = top.first(where: { $0.key == "model" })?.value, case .object(let m) = model,
            let vocab = m.first(where: { $0.key == "vocab" })?.value, case .object(let entries) = vocab
        {
            exactVocab = entries
        }
        return (JSONValue(node), exactVocab)
    }

    /// The BPE model, vocabulary (added tokens filled in, id order), merges and pre-tokenizer. `exactVocab`
    /// (from readTokenizerJSON) replaces model.vocab's JSONValue object when given.
    public static func tokenizerData(
        _ json: JSONValue, exactVocab: [(key: String, value: JSONNode)]? = nil, path: String, notes: inout [String]
    ) throws -> TokenizerData {
        guard let model = json["model"], model.object != nil else {
            throw ModelFileError(.malformed, path, "no model object", at: "key model")
        }
        let m = JSONFields(value: model, path: path, prefix: "model.")
        let type = try m.string("type") ?? "BPE"
        guard type == "BPE" else {
            throw ModelFileError(
                .unsupported, path, "tokenizer model \(type) is not supported; only BPE is (byte-level or SentencePiece-style)", at: "key model.type")
        }
        let sentencePiece = try m.bool("byte_fallback") == true || HFSentencePiece.usesMetaspace(json)
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !(try m.string(key) ?? "").isEmpty {
            throw ModelFileError(.unsupported, path, "BPE \(key) is not supported", at: "key model.\(key)")
        }

        // Vocabulary: token → id, then added tokens, into one id-ordered array without holes.
        guard let vocabObject = model["vocab"]?.object else {
            throw ModelFileError(.malformed, path, "model.vocab must be an object of token → id", at: "key model.vocab")
        }
        let vocabEntries: [(String, JSONValue)] =
            exactVocab.map { $0.map { ($0.key, JSONValue($0.value)) } } ?? vocabObject.map { ($0.key, $0.value) }
        var byId: [Int: String] = [:]
        byId.reserveCapacity(vocabEntries.count)
        for (token, idValue) in vocabEntries {
            guard let id = idValue.int, id >= 0, id < 1 << 24 else {
                throw ModelFileError(.malformed, path, "vocab entry \(token) has id \(idValue), not an integer in 0..<2^24", at: "key model.vocab")
            }
            if let other = byId[id] {
                throw ModelFileError(.malformed, path, "tokens \(other) and \(token) share id \(id)", at: "key model.vocab")
            }
            byId[id] = token
        }
        var added: [AddedToken] = []
        for (i, a) in (json["added_tokens"]?.array ?? []).enumerated() {
            let f = JSONFields(value: a, path: path, prefix: "added_tokens[\(i)].")
            guard let id = try f.int("id"), id >= 0, id < 1 << 24, let content = try f.string("content") else {
                throw ModelFileError(.malformed, path, "added token \(i) needs an id and a content", at: "key added_tokens[\(i)]")
            }
            if let existing = byId[id], existing != content {
                throw ModelFileError(
                    .malformed, path, "added token \(content) has id \(id), which the vocabulary gives to \(existing)", at: "key added_tokens[\(i)]")
            }
            byId[id] = content
            added.append(
                AddedToken(
                    id: id, content: content, special: try f.bool("special") ?? false, lstrip: try f.bool("lstrip") ?? false,
                    rstrip: try f.bool("rstrip") ?? false, normalized: try f.bool("normalized") ?? false,
                    singleWord: try f.bool("single_word") ?? false))
        }
        let count = (byId.keys.max() ?? -1) + 1
        var vocab: [String] = []
        vocab.reserveCapacity(count)
        for id in 0..<count {
            guard let t = byId[id] else {
                throw ModelFileError(
                    .malformed, path, "token id \(id) is neither in the vocabulary nor an added token (ids must be 0..<\(count) without holes)",
                    at: "key model.vocab")
            }
            vocab.append(t)
        }

        // Merges: "a b" strings (legacy) or [a, b] pairs (tokenizers ≥ 0.20); stored as "a b".
        var merges: [String] = []
        let mergeList = model["merges"]?.array ?? []
        merges.reserveCapacity(mergeList.count)
        for (i, entry) in mergeList.enumerated() {
            if let s = entry.string {
                guard TokenizerData.splitMerge(s) != nil else {
                    throw ModelFileError(
                        .malformed, path, "merge \(i) \"\(s)\" is not two tokens separated by one space", at: "key model.merges[\(i)]")
                }
                merges.append(s)
            } else if let pair = entry.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                guard !a.unicodeScalars.contains(" "), !b.unicodeScalars.contains(" ") else {
                    throw ModelFileError(.unsupported, path, "merge \(i) has a part containing a space", at: "key model.merges[\(i)]")
                }
                merges.append(a + " " + b)
            } else {
                throw ModelFileError(.malformed, path, "merge \(i) must be a string \"a b\" or a pair [a, b]", at: "key model.merges[\(i)]")
            }
        }

        let added_ = added.sorted { $0.id < $1.id }
        if sentencePiece {
            let options = try HFSentencePiece.options(json, model: m, path: path)
            return TokenizerData(
                preTokenizer: "sentencepiece", vocab: vocab, merges: merges, addedTokens: added_, sentencePiece: options)
        }
        if let n = json["normalizer"], !n.isNull {
            guard n["type"]?.string == "NFC" else {
                throw ModelFileError(
                    .unsupported, path, "normalizer \(n["type"]?.string ?? n.kindName) is not supported (none or NFC)", at: "key normalizer")
            }
            notes.append("\(path): the NFC normalizer is not applied (text already in NFC, as nearly all text is, tokenizes the same)")
        }
        let pre = try preTokenizer(json["pre_tokenizer"], path: path)
        if try m.bool("ignore_merges") == true && pre != "llama3" {
            notes.append("\(path): model.ignore_merges is set; LeanDPO applies it only with the llama3 pre-tokenizer")
        }
        return TokenizerData(preTokenizer: pre, vocab: vocab, merges: merges, addedTokens: added_)
    }

    /// Recognises the pre-tokenizer: ByteLevel alone (gpt2), Digits + ByteLevel (smollm), or
    /// Split(regex) + ByteLevel without its own regex (llama3, qwen2).
    static func preTokenizer(_ v: JSONValue?, path: String) throws -> String {
        func fail(_ what: String) -> ModelFileError {
            ModelFileError(
                .unsupported, path, "pre_tokenizer \(what) is not one LeanDPO implements (gpt2, smollm, llama3, qwen2)", at: "key pre_tokenizer")
        }
        guard let v, !v.isNull else { throw fail("null") }
        func type(_ x: JSONValue) -> String { x["type"]?.string ?? "?" }
        func byteLevel(_ x: JSONValue, useRegex: Bool) -> Bool {
            type(x) == "ByteLevel" && (x["add_prefix_space"]?.bool ?? false) == false && (x["use_regex"]?.bool ?? true) == useRegex
        }
        if byteLevel(v, useRegex: true) { return "gpt2" }
        guard type(v) == "Sequence", let steps = v["pretokenizers"]?.array else { throw fail(type(v)) }
        let names = "Sequence[" + steps.map(type).joined(separator: ", ") + "]"
        if steps.count == 1, byteLevel(steps[0], useRegex: true) { return "gpt2" }
        guard steps.count == 2 else { throw fail(names) }
        if type(steps[0]) == "Digits", steps[0]["individual_digits"]?.bool == true, byteLevel(steps[1], useRegex: true) {
            return "smollm"
        }
        if type(steps[0]) == "Split", byteLevel(steps[1], useRegex: false) {
            let s = steps[0]
            guard let regex = s["pattern"]?["Regex"]?.string else { throw fail("Split without a Regex pattern") }
            guard s["behavior"]?.string == "Isolated", (s["invert"]?.bool ?? false) == false else {
                throw fail("Split with behavior \(s["behavior"]?.string ?? "?")")
            }
            guard let name = splitRegexes[regex] else { throw fail("Split regex \(regex)") }
            return name
        }
        throw fail(names)
    }

    // MARK: - tokenizer_config.json

    static func applyTokenizerConfig(
        _ cfg: JSONValue?, to data: inout TokenizerData, path: String, config: ModelConfig?,
        postProcessor: (bos: Bool, eos: Bool)? = nil, notes: inout [String]
    ) throws {
        func tokenString(_ key: String) throws -> String? {
            guard let v = cfg?[key], !v.isNull else { return nil }
            if let s = v.string { return s }
            if let s = v["content"]?.string { return s }
            throw ModelFileError(.malformed, path, "\(key) must be a string or an object with content", at: "key \(key)")
        }
        func byId(_ id: Int?) -> String? {
            guard let id, id >= 0, id < data.vocab.count else { return nil }
            return data.vocab[id]
        }
        let fields = cfg.map { JSONFields(value: $0, path: path) }
        data.bosToken = try tokenString("bos_token") ?? byId(config?.bosTokenId)
        data.eosToken = try tokenString("eos_token") ?? byId(config?.eosTokenIds.first)
        data.padToken = try tokenString("pad_token") ?? byId(config?.padTokenId)
        data.unkToken = try tokenString("unk_token")
        let known = Set(data.vocab)
        for (key, token) in [("bos_token", data.bosToken), ("eos_token", data.eosToken)] {
            if let token, !known.contains(token) {
                throw ModelFileError(.malformed, path, "\(key) \(token) is not in the vocabulary", at: "key \(key)")
            }
        }
        if let t = data.padToken, !known.contains(t) {
            notes.append("\(path): pad_token \(t) is not in the vocabulary; dropped")
            data.padToken = nil
        }
        if let t = data.unkToken, !known.contains(t) {
            notes.append("\(path): unk_token \(t) is not in the vocabulary; dropped")
            data.unkToken = nil
        }
        // An explicit add_bos_token wins; otherwise tokenizer.json's TemplateProcessing decides (Llama 3).
        data.addBosToken = try fields?.bool("add_bos_token") ?? postProcessor?.bos ?? false
        data.addEosToken = try fields?.bool("add_eos_token") ?? postProcessor?.eos ?? false
    }

    /// Whether tokenizer.json's TemplateProcessing puts a special token before (bos) or after (eos) a
    /// single sequence; used when tokenizer_config.json does not say add_bos_token / add_eos_token.
    public static func postProcessorAdds(_ tokenizerJSON: JSONValue) -> (bos: Bool, eos: Bool)? {
        var p = tokenizerJSON["post_processor"]
        if p?["type"]?.string == "Sequence" {
            p = p?["processors"]?.array?.first { $0["type"]?.string == "TemplateProcessing" }
        }
        guard let p, p["type"]?.string == "TemplateProcessing", let single = p["single"]?.array, !single.isEmpty else { return nil }
        return (single.first?["SpecialToken"] != nil, single.count > 1 && single.last?["SpecialToken"] != nil)
    }

    // MARK: - Chat template

    /// chat_template is a string or a list of {name, template}; the one named "default" (else the first) is used.
    static func chatTemplate(_ v: JSONValue, path: String, notes: inout [String]) throws -> String {
        if let s = v.string { return s }
        guard let list = v.array, !list.isEmpty else {
            throw ModelFileError(.malformed, path, "chat_template must be a string or a list of {name, template}", at: "key chat_template")
        }
        var named: [(String, String)] = []
        for (i, e) in list.enumerated() {
            guard let name = e["name"]?.string, let t = e["template"]?.string else {
                throw ModelFileError(.malformed, path, "chat_template[\(i)] needs a name and a template", at: "key chat_template[\(i)]")
            }
            named.append((name, t))
        }
        let chosen = named.first { $0.0 == "default" } ?? named[0]
        if named.count > 1 {
            notes.append(
                "\(path): using chat template \"\(chosen.0)\"; ignoring \(named.filter { $0.0 != chosen.0 }.map { "\"\($0.0)\"" }.joined(separator: ", "))"
            )
        }
        return chosen.1
    }
}
