// tokenizer.json / tokenizer_config.json / chat_template.jinja → TokenizerData and chat template: both
// merge spellings, added tokens filling the vocabulary, pre-tokenizer recognition, special tokens.

import Foundation
import JSON
import ModelFiles
import TensorFile
import Testing

var smollmPre: Any {
    [
        "type": "Sequence",
        "pretokenizers": [
            ["type": "Digits", "individual_digits": true],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
        ],
    ]
}

let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

func splitPre(_ regex: String, byteLevelRegex: Bool = false) -> Any {
    [
        "type": "Sequence",
        "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false],
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": byteLevelRegex],
        ],
    ]
}

/// tokenizer.json for the tiny vocabulary: ids 0-2 are only in added_tokens, 9 is in both.
func tinyTokenizerJSON(pairs: Bool = true, pre: Any = smollmPre, extraModel: [String: Any] = [:], edit: (inout [String: Any]) -> Void = { _ in })
    -> [String: Any]
{
    func added(_ id: Int, _ content: String, special: Bool) -> [String: Any] {
        ["id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": !special, "special": special]
    }
    var model: [String: Any] = [
        "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": "", "end_of_word_suffix": "",
        "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
        "vocab": ["a": 3, "b": 4, "c": 5, "Ġ": 6, "ab": 7, "Ġa": 8, "<tool>": 9],
        "merges": pairs ? [["a", "b"], ["Ġ", "a"]] as Any : ["a b", "Ġ a"] as Any,
    ]
    for (k, v) in extraModel { model[k] = v }
    var json: [String: Any] = [
        "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
        "added_tokens": [
            added(0, "<|endoftext|>", special: true), added(1, "<|im_start|>", special: true),
            added(2, "<|im_end|>", special: true), added(9, "<tool>", special: false),
        ],
        "normalizer": NSNull(), "pre_tokenizer": pre,
        "post_processor": ["type": "TemplateProcessing", "single": [["Sequence": ["id": "A", "type_id": 0]]], "pair": [], "special_tokens": [:]],
        "model": model,
    ]
    edit(&json)
    return json
}

func tokenizerData(_ json: [String: Any]) throws -> (TokenizerData, [String]) {
    var notes: [String] = []
    let data = try JSONSerialization.data(withJSONObject: json)
    return (try HFTokenizer.tokenizerData(try JSONValue.parse(data, path: "tokenizer.json"), path: "tokenizer.json", notes: &notes), notes)
}

@Test func mergesAsStringsOrPairsGiveTheSameTokenizer() throws {
    let (pairs, _) = try tokenizerData(tinyTokenizerJSON(pairs: true))
    let (strings, _) = try tokenizerData(tinyTokenizerJSON(pairs: false))
    #expect(pairs == strings)
    #expect(pairs.merges == ["a b", "Ġ a"])
    #expect(pairs.vocab == tinyTokens)
    #expect(pairs.addedTokens.map(\.id) == [0, 1, 2, 9] && pairs.addedTokens.map(\.special) == [true, true, true, false])
    #expect(pairs.addedTokens[3].normalized && !pairs.addedTokens[0].normalized)
    #expect(pairs.preTokenizer == "smollm")
}

@Test(arguments: [
    ("gpt2", 0), ("gpt2-in-sequence", 1), ("smollm", 2), ("llama3", 3), ("qwen2", 4),
])
func preTokenizerIsRecognised(expected: String, which: Int) throws {
    let pres: [Any] = [
        ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
        ["type": "Sequence", "pretokenizers": [["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]]],
        smollmPre, splitPre(llama3Regex), splitPre(qwen2Regex),
    ]
    let (t, _) = try tokenizerData(tinyTokenizerJSON(pre: pres[which]))
    #expect(t.preTokenizer == (expected == "gpt2-in-sequence" ? "gpt2" : expected))
}

@Test func unrecognisedPreTokenizersAreRefused() throws {
    let cases: [(Any, String)] = [
        (["type": "Whitespace"], "pre_tokenizer Whitespace"),
        (splitPre(#"\s+|\w+"#), #"Split regex \s+|\w+"#),
        (splitPre(llama3Regex, byteLevelRegex: true), "Sequence[Split, ByteLevel]"),
        (["type": "ByteLevel", "add_prefix_space": true, "use_regex": true], "pre_tokenizer ByteLevel"),
        (NSNull(), "pre_tokenizer null"),
    ]
    for (pre, message) in cases {
        expectModelError(message, "is not one LeanDPO implements", kind: .unsupported) { _ = try tokenizerData(tinyTokenizerJSON(pre: pre)) }
    }
}

@Test func tokenizerJSONErrorsAreNamed() throws {
    expectModelError("token id 5 is neither in the vocabulary nor an added token") {
        _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["vocab": ["a": 3, "b": 4, "Ġ": 6, "ab": 7, "Ġa": 8, "<tool>": 9]]))
    }
    expectModelError("tokens", "share id 4") {
        _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["vocab": ["a": 3, "b": 4, "x": 4, "c": 5, "Ġ": 6, "ab": 7, "Ġa": 8]]))
    }
    expectModelError("added token <|im_end|> has id 3, which the vocabulary gives to a") {
        _ = try tokenizerData(
            tinyTokenizerJSON { j in
                var a = j["added_tokens"] as! [[String: Any]]
                a[2]["id"] = 3
                j["added_tokens"] = a
            })
    }
    expectModelError("merge 1 must be a string", "model.merges[1]") {
        _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["merges": [["a", "b"], ["a", "b", "c"]]]))
    }
    expectModelError("merge 0 \"ab\" is not two tokens") { _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["merges": ["ab"]])) }
    // byte_fallback makes it SentencePiece-style, whose pipeline has no Digits/ByteLevel pre-tokenizer.
    expectModelError("pre_tokenizer Digits is not supported in a SentencePiece tokenizer", "pre_tokenizer[0]", kind: .unsupported) {
        _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["byte_fallback": true]))
    }
    expectModelError("tokenizer model WordPiece is not supported", kind: .unsupported) {
        _ = try tokenizerData(tinyTokenizerJSON(extraModel: ["type": "WordPiece"]))
    }
    expectModelError("normalizer Lowercase is not supported") {
        _ = try tokenizerData(tinyTokenizerJSON { $0["normalizer"] = ["type": "Lowercase"] })
    }
    let (_, notes) = try tokenizerData(tinyTokenizerJSON { $0["normalizer"] = ["type": "NFC"] })
    #expect(notes.contains { $0.contains("NFC") })
}

@Test func tokenizerConfigAndChatTemplateFiles() throws {
    let dir = TempDir()
    try dir.write("tokenizer.json", json: tinyTokenizerJSON())
    var cfg: [String: Any] = [
        "bos_token": "<|im_start|>", "eos_token": ["content": "<|im_end|>", "special": true], "pad_token": NSNull(),
        "unk_token": "<unk-not-in-vocab>", "add_bos_token": true,
        "chat_template": [["name": "tool_use", "template": "T"], ["name": "default", "template": "D"]],
    ]
    try dir.write("tokenizer_config.json", json: cfg)
    var notes: [String] = []
    var (t, template) = try HFTokenizer.load(directory: dir.path, config: nil, notes: &notes)
    #expect(t.bosToken == "<|im_start|>" && t.eosToken == "<|im_end|>" && t.padToken == nil && t.unkToken == nil)
    #expect(t.addBosToken && !t.addEosToken)
    #expect(template == "D")
    #expect(notes.contains { $0.contains("\"tool_use\"") } && notes.contains { $0.contains("unk_token") })

    cfg["chat_template"] = "S"
    try dir.write("tokenizer_config.json", json: cfg)
    (t, template) = try HFTokenizer.load(directory: dir.path, config: nil, notes: &notes)
    #expect(template == "S")
    try dir.write("chat_template.jinja", "J {{ messages }}")
    (t, template) = try HFTokenizer.load(directory: dir.path, config: nil, notes: &notes)
    #expect(template == "J {{ messages }}")

    cfg["eos_token"] = "<|missing|>"
    try dir.write("tokenizer_config.json", json: cfg)
    expectModelError("eos_token <|missing|> is not in the vocabulary") { _ = try HFTokenizer.load(directory: dir.path, config: nil, notes: &notes) }
    cfg["eos_token"] = 7
    try dir.write("tokenizer_config.json", json: cfg)
    expectModelError("eos_token must be a string or an object with content") {
        _ = try HFTokenizer.load(directory: dir.path, config: nil, notes: &notes)
    }
}

@Test func withoutTokenizerConfigTheModelConfigAndPostProcessorDecide() throws {
    let dir = TempDir()
    // Llama 3 style: the post-processor adds <|im_start|> before every sequence.
    try dir.write(
        "tokenizer.json",
        json: tinyTokenizerJSON { j in
            j["post_processor"] = [
                "type": "Sequence",
                "processors": [
                    ["type": "ByteLevel"],
                    [
                        "type": "TemplateProcessing",
                        "single": [["SpecialToken": ["id": "<|im_start|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                    ],
                ],
            ]
        })
    let config = try parseConfig(llamaConfigJSON(#""pad_token_id": 0"#))
    var notes: [String] = []
    let (t, template) = try HFTokenizer.load(directory: dir.path, config: config, notes: &notes)
    #expect(t.bosToken == "<|im_start|>" && t.eosToken == "<|im_end|>" && t.padToken == "<|endoftext|>")
    #expect(t.addBosToken && !t.addEosToken && template == nil)
    try FileManager.default.removeItem(atPath: dir.file("tokenizer.json"))
    expectModelError("tokenizer.json is missing", kind: .missing) { _ = try HFTokenizer.load(directory: dir.path, config: config, notes: &notes) }
}
