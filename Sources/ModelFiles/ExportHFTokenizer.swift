// TokenizerData → tokenizer.json (a byte-level BPE model with the pre-tokenizer our kind names, or a
// SentencePiece BPE with its normalizer, Metaspace and decoder; merges as pairs, added tokens, a
// TemplateProcessing post-processor adding BOS/EOS as configured) and tokenizer_config.json (special tokens, add_bos_token, added_tokens_decoder) for
// PreTrainedTokenizerFast (huggingface/tokenizers' tokenizer.json serialization). The inverse of HFTokenizer.

import JSON
import TensorFile

public enum HFTokenizerWriter {
    /// The Split regexes of Llama 3 and Qwen2 tokenizer.json files (keys of HFTokenizer.splitRegexes).
    static let llama3Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static func byteLevel(addPrefixSpace: Bool, trimOffsets: Bool = true, useRegex: Bool) -> JSONText {
        .object([
            ("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)), ("trim_offsets", .bool(trimOffsets)),
            ("use_regex", .bool(useRegex)),
        ])
    }

    /// The pre_tokenizer object for a TokenizerData.preTokenizer kind.
    static func preTokenizer(_ kind: String) throws -> JSONText {
        func split(_ regex: String) -> JSONText {
            .object([
                ("type", .string("Sequence")),
                (
                    "pretokenizers",
                    .array([
                        .object([
                            ("type", .string("Split")), ("pattern", .object([("Regex", .string(regex))])), ("behavior", .string("Isolated")),
                            ("invert", .bool(false)),
                        ]),
                        byteLevel(addPrefixSpace: false, useRegex: false),
                    ])
                ),
            ])
        }
        switch kind {
        case "gpt2": return byteLevel(addPrefixSpace: false, useRegex: true)
        case "smollm":
            return .object([
                ("type", .string("Sequence")),
                (
                    "pretokenizers",
                    .array([
                        .object([("type", .string("Digits")), ("individual_digits", .bool(true))]),
                        byteLevel(addPrefixSpace: false, useRegex: true),
                    ])
                ),
            ])
        case "llama3": return split(llama3Regex)
        case "qwen2": return split(qwen2Regex)
        default:
            throw ModelFileError(.unsupported, "tokenizer.json", "pre-tokenizer \(kind) has no tokenizer.json form (gpt2, smollm, llama3, qwen2)")
        }
    }

    // MARK: - tokenizer.json

    public static func tokenizerJSON(_ t: TokenizerData) throws -> JSONText {
        let ids = TokenIds(t)
        let added = Set(t.addedTokens.map(\.id))
        var vocab: [(String, JSONText)] = []
        vocab.reserveCapacity(t.vocab.count)
        var seen = Set<[UInt8]>()  // bytes: "é" and "e\u{301}" are two tokens
        for (id, token) in t.vocab.enumerated() {
            guard seen.insert(Array(token.utf8)).inserted else {
                // A JSON object cannot hold the same token twice; an added token keeps its id through added_tokens.
                guard added.contains(id) else {
                    throw ModelFileError(
                        .unsupported, "tokenizer.json", "token \(token) appears twice in the vocabulary (ids \(ids.id(token) ?? -1) and \(id))")
                }
                continue
            }
            vocab.append((token, .int(id)))
        }
        var mergeList = t.merges
        if let spm = t.sentencePiece, let scores = spm.scores {
            mergeList = SentencePieceMerges.merges(vocab: t.vocab, scores: scores, types: spm.tokenTypes)
        }
        var merges: [JSONText] = []
        merges.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            guard let (left, right) = TokenizerData.splitMerge(m) else {
                throw ModelFileError(.malformed, "tokenizer.json", "merge \(i) \"\(m)\" is not two tokens separated by one space")
            }
            merges.append(.array([.string(left), .string(right)]))
        }
        let addedTokens: [JSONText] = t.addedTokens.map { a in
            .object([
                ("id", .int(a.id)), ("content", .string(a.content)), ("single_word", .bool(a.singleWord)), ("lstrip", .bool(a.lstrip)),
                ("rstrip", .bool(a.rstrip)), ("normalized", .bool(a.normalized)), ("special", .bool(a.special)),
            ])
        }
        if let spm = t.sentencePiece {
            return .object([
                ("version", .string("1.0")),
                ("truncation", .null),
                ("padding", .null),
                ("added_tokens", .array(addedTokens)),
                ("normalizer", HFSentencePiece.json(spm.normalizer, normalizer: true)),
                ("pre_tokenizer", HFSentencePiece.preTokenizerJSON(spm.metaspace)),
                ("post_processor", try postProcessor(t, ids)),
                ("decoder", HFSentencePiece.json(spm.decoder, normalizer: false)),
                (
                    "model",
                    .object([
                        ("type", .string("BPE")), ("dropout", .null), ("unk_token", .optional(spm.unkToken)),
                        ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null), ("fuse_unk", .bool(spm.fuseUnk)),
                        ("byte_fallback", .bool(spm.byteFallback)), ("ignore_merges", .bool(spm.ignoreMerges)),
                        ("vocab", .object(vocab)), ("merges", .array(merges)),
                    ])
                ),
            ])
        }
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(addedTokens)),
            ("normalizer", .null),
            ("pre_tokenizer", try preTokenizer(t.preTokenizer)),
            ("post_processor", try postProcessor(t, ids)),
            ("decoder", byteLevel(addPrefixSpace: true, useRegex: true)),
            (
                "model",
                .object([
                    ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                    ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                    ("ignore_merges", .bool(t.preTokenizer == "llama3")), ("vocab", .object(vocab)), ("merges", .array(merges)),
                ])
            ),
        ])
    }

    /// TemplateProcessing that puts BOS before and EOS after each sequence when the tokenizer adds them.
    static func postProcessor(_ t: TokenizerData, _ ids: TokenIds) throws -> JSONText {
        var special: [(String, JSONText)] = []
        func token(_ s: String?, _ what: String, _ wanted: Bool) throws -> String? {
            guard wanted else { return nil }
            guard let s, let id = ids.id(s) else {
                throw ModelFileError(.malformed, "tokenizer.json", "add_\(what)_token is set but the tokenizer has no \(what) token")
            }
            if !special.contains(where: { $0.0 == s }) {
                special.append((s, .object([("id", .string(s)), ("ids", .array([.int(id)])), ("tokens", .array([.string(s)]))])))
            }
            return s
        }
        let bos = try token(t.bosToken, "bos", t.addBosToken)
        let eos = try token(t.eosToken, "eos", t.addEosToken)
        func sequence(_ name: String, _ typeId: Int) -> [JSONText] {
            var out: [JSONText] = []
            if let bos { out.append(.object([("SpecialToken", .object([("id", .string(bos)), ("type_id", .int(typeId))]))])) }
            out.append(.object([("Sequence", .object([("id", .string(name)), ("type_id", .int(typeId))]))]))
            if let eos { out.append(.object([("SpecialToken", .object([("id", .string(eos)), ("type_id", .int(typeId))]))])) }
            return out
        }
        return .object([
            ("type", .string("TemplateProcessing")), ("single", .array(sequence("A", 0))), ("pair", .array(sequence("A", 0) + sequence("B", 1))),
            ("special_tokens", .object(special)),
        ])
    }

    // MARK: - tokenizer_config.json

    public static func tokenizerConfigJSON(_ t: TokenizerData, modelMaxLength: Int) -> JSONText {
        let decoder: [(String, JSONText)] = t.addedTokens.map { a in
            (
                String(a.id),
                .object([
                    ("content", .string(a.content)), ("lstrip", .bool(a.lstrip)), ("normalized", .bool(a.normalized)),
                    ("rstrip", .bool(a.rstrip)), ("single_word", .bool(a.singleWord)), ("special", .bool(a.special)),
                ])
            )
        }
        return .object([
            ("add_bos_token", .bool(t.addBosToken)),
            ("add_eos_token", .bool(t.addEosToken)),
            ("added_tokens_decoder", .object(decoder)),
            ("bos_token", .optional(t.bosToken)),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("eos_token", .optional(t.eosToken)),
            ("model_max_length", .int(modelMaxLength)),
            ("pad_token", .optional(t.padToken)),
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("unk_token", .optional(t.unkToken)),
        ])
    }
}
