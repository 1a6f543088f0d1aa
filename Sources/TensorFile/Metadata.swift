// The metadata an MTF file carries: architecture config, tokenizer, chat template and provenance.
// Stored as JSON in the header (snake_case keys); see formats/mtf.md.

import Foundation

// MARK: - Architecture config

public struct RopeScaling: Codable, Sendable, Equatable {
    /// "llama3", "linear" or "longrope"; "default" means no scaling.
    public var ropeType: String
    public var factor: Double
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    /// LongRoPE (Phi-3's 128k models): per-frequency divisors (Dh/2 each), the short ones for passes whose positions
    /// stay within originalMaxPositionEmbeddings, the long ones beyond, and the factor cos and sin are multiplied by.
    public var shortFactor: [Double]?
    public var longFactor: [Double]?
    public var attentionFactor: Double?

    public init(
        ropeType: String, factor: Double, lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
        originalMaxPositionEmbeddings: Int? = nil, shortFactor: [Double]? = nil, longFactor: [Double]? = nil,
        attentionFactor: Double? = nil
    ) {
        self.ropeType = ropeType
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        self.shortFactor = shortFactor
        self.longFactor = longFactor
        self.attentionFactor = attentionFactor
    }

    /// LongRoPE's attention factor as transformers derives it when absent: √(1 + ln factor / ln original), 1 for
    /// factor ≤ 1.
    public static func longRopeAttentionFactor(factor: Double, original: Int) -> Double {
        factor <= 1 ? 1 : (1 + Foundation.log(factor) / Foundation.log(Double(original))).squareRoot()
    }
}

/// Every field the model code needs, in Hugging Face's vocabulary.
public struct ModelConfig: Codable, Sendable, Equatable {
    public enum Architecture: String, Codable, Sendable, CaseIterable {
        case llama, qwen2, qwen3
        /// Gemma 2 / Gemma 3 text: (1 + w) RMSNorms (the file keeps Hugging Face's w), four norms per layer,
        /// embeddings scaled by √D, GeGLU, query_pre_attn_scalar, soft-capping (Gemma 2), q/k norms (Gemma 3).
        case gemma2, gemma3
        /// Llama's layout with sliding-window attention (transformers' MistralForCausalLM).
        case mistral
        /// Phi-3 / Phi-3.5-mini: Llama's layout with q, k, v fused into one `self_attn.qkv_proj` ([Q + 2·KV, D],
        /// rows q then k then v) and gate, up into one `mlp.gate_up_proj` ([2·F, D], gate rows first), kept so in
        /// the file; sliding-window attention on every layer when set.
        case phi3
    }

    public var architecture: Architecture
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var vocabSize: Int
    public var tieWordEmbeddings: Bool
    /// Bias on q, k and v projections (always on for Qwen2).
    public var attentionBias: Bool
    /// Per-head RMSNorm on q and k before RoPE (Qwen3).
    public var qkNorm: Bool
    public var hiddenAct: String
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?
    /// Sliding-window attention: a query at position i sees keys j with i − window < j ≤ i. nil: every layer
    /// attends to the whole sequence.
    public var slidingWindow: Int?
    /// Per layer "sliding_attention" or "full_attention" (transformers' layer_types); nil with a window: every
    /// layer slides.
    public var layerTypes: [String]?
    /// Gemma: the attention scale is query_pre_attn_scalar^-1/2 instead of head_dim^-1/2.
    public var queryPreAttnScalar: Double?
    /// Gemma 2: attention scores become cap·tanh(scores/cap) before the softmax.
    public var attnLogitSoftcapping: Double?
    /// Gemma 2: logits become cap·tanh(logits/cap).
    public var finalLogitSoftcapping: Double?
    /// Gemma 3: the RoPE base of the sliding-window layers (rope_local_base_freq; no scaling there). The global
    /// layers use ropeTheta and ropeScaling.
    public var ropeLocalBaseFreq: Double?

    /// Whether layer `l` is a sliding-window layer (its RoPE is the local one for Gemma 3).
    public func isSlidingLayer(_ l: Int) -> Bool { layerTypes.map { l < $0.count && $0[l] == "sliding_attention" } ?? false }

    /// Whether q/k/v and gate/up are stored fused (Phi-3): `self_attn.qkv_proj` and `mlp.gate_up_proj`.
    public var fusedProjections: Bool { architecture == .phi3 }

    /// Gemma's layout: (1 + w) norms, post-attention and post-MLP norms, embeddings scaled by √D.
    public var isGemma: Bool { architecture == .gemma2 || architecture == .gemma3 }

    /// The factor the token embeddings are multiplied by: √D rounded to f32 for Gemma (transformers
    /// multiplies by a tensor of the hidden states' dtype), nil otherwise.
    public var embeddingScale: Float? { isGemma ? Float(Double(hiddenSize).squareRoot()) : nil }

    /// The attention's score scale: query_pre_attn_scalar^-1/2 when set, head_dim^-1/2 otherwise.
    public var attentionScale: Float { Float(1 / (queryPreAttnScalar ?? Double(headDim)).squareRoot()) }

    public init(
        architecture: Architecture, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
        numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil, rmsNormEps: Double,
        ropeTheta: Double, ropeScaling: RopeScaling? = nil, maxPositionEmbeddings: Int, vocabSize: Int,
        tieWordEmbeddings: Bool, attentionBias: Bool = false, qkNorm: Bool = false, hiddenAct: String = "silu",
        bosTokenId: Int? = nil, eosTokenIds: [Int] = [], padTokenId: Int? = nil, slidingWindow: Int? = nil,
        queryPreAttnScalar: Double? = nil, attnLogitSoftcapping: Double? = nil, finalLogitSoftcapping: Double? = nil,
        ropeLocalBaseFreq: Double? = nil,
        layerTypes: [String]? = nil
    ) {
        self.architecture = architecture
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.vocabSize = vocabSize
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.qkNorm = qkNorm
        self.hiddenAct = hiddenAct
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.padTokenId = padTokenId
        self.slidingWindow = slidingWindow
        self.layerTypes = layerTypes
        self.queryPreAttnScalar = queryPreAttnScalar
        self.attnLogitSoftcapping = attnLogitSoftcapping
        self.finalLogitSoftcapping = finalLogitSoftcapping
        self.ropeLocalBaseFreq = ropeLocalBaseFreq
    }

    /// The attention window of layer `l`, nil for full attention.
    public func attentionWindow(layer l: Int) -> Int? {
        guard let w = slidingWindow else { return nil }
        guard let types = layerTypes else { return w }
        return types[l] == "sliding_attention" ? w : nil
    }

    /// Checks the numbers are usable; the message names the field.
    public func validate() throws {
        func positive(_ v: Int, _ name: String, max: Int = 1 << 24) throws {
            guard v > 0, v <= max else { throw ConfigError("\(name) must be in 1...\(max), got \(v)") }
        }
        try positive(hiddenSize, "hidden_size")
        try positive(intermediateSize, "intermediate_size")
        try positive(numHiddenLayers, "num_hidden_layers", max: 4096)
        try positive(numAttentionHeads, "num_attention_heads", max: 4096)
        try positive(numKeyValueHeads, "num_key_value_heads", max: 4096)
        try positive(headDim, "head_dim", max: 4096)
        try positive(vocabSize, "vocab_size", max: 1 << 22)
        guard headDim % 2 == 0 else { throw ConfigError("head_dim must be even for RoPE, got \(headDim)") }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw ConfigError(
                "num_attention_heads (\(numAttentionHeads)) must be a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        guard rmsNormEps > 0, rmsNormEps.isFinite else { throw ConfigError("rms_norm_eps must be > 0") }
        guard ropeTheta > 0, ropeTheta.isFinite else { throw ConfigError("rope_theta must be > 0") }
        if fusedProjections, attentionBias || qkNorm {
            throw ConfigError("\(architecture.rawValue) has no q/k/v bias or q/k norm (attention_bias, qk_norm)")
        }
        let act = isGemma ? "gelu_pytorch_tanh" : "silu"
        guard hiddenAct == act else {
            throw ConfigError("hidden_act \(hiddenAct) is not supported for \(architecture.rawValue) (only \(act))")
        }
        for (v, name) in [
            (queryPreAttnScalar, "query_pre_attn_scalar"), (attnLogitSoftcapping, "attn_logit_softcapping"),
            (finalLogitSoftcapping, "final_logit_softcapping"),
        ] {
            if let v { guard v > 0, v.isFinite else { throw ConfigError("\(name) must be > 0, got \(v)") } }
        }
        if let r = ropeLocalBaseFreq, !(r > 0 && r.isFinite) { throw ConfigError("rope_local_base_freq must be > 0, got \(r)") }

        try positive(maxPositionEmbeddings, "max_position_embeddings")
        if let s = ropeScaling {
            guard s.factor.isFinite, s.factor > 0 else { throw ConfigError("rope_scaling.factor must be > 0, got \(s.factor)") }
            if s.ropeType == "longrope" {
                for (list, name) in [(s.shortFactor, "short_factor"), (s.longFactor, "long_factor")] {
                    guard let list, list.count == headDim / 2, list.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                        throw ConfigError("rope_scaling.\(name) must list \(headDim / 2) positive numbers (head_dim / 2)")
                    }
                }
                guard let o = s.originalMaxPositionEmbeddings, o > 1 else {
                    throw ConfigError("longrope needs original_max_position_embeddings > 1")
                }
                guard let a = s.attentionFactor, a.isFinite, a > 0 else { throw ConfigError("rope_scaling.attention_factor must be > 0") }
            }
        }
        if let w = slidingWindow { try positive(w, "sliding_window", max: 1 << 30) }
        if let types = layerTypes {
            guard types.count == numHiddenLayers else {
                throw ConfigError("layer_types lists \(types.count) layers, num_hidden_layers is \(numHiddenLayers)")
            }
            if let bad = types.first(where: { $0 != "sliding_attention" && $0 != "full_attention" }) {
                throw ConfigError("layer_types entry \(bad) is not supported (sliding_attention, full_attention)")
            }
        }
        // Token ids become Int32 in generation and index the vocabulary: both bounds are checked here.
        if let b = bosTokenId, !(0..<vocabSize).contains(b) {
            throw ConfigError("bos_token_id \(b) is outside the vocabulary (0..<\(vocabSize))")
        }
        guard eosTokenIds.count <= 1024 else { throw ConfigError("eos_token_id lists \(eosTokenIds.count) ids (at most 1024)") }
        for e in eosTokenIds where !(0..<vocabSize).contains(e) {
            throw ConfigError("eos_token_id \(e) is outside the vocabulary (0..<\(vocabSize))")
        }
    }

    /// The tensors the architecture needs, with their Hugging Face names and shapes ([out, in]).
    public var requiredTensors: [(name: String, shape: [Int])] {
        let d = hiddenSize
        let q = numAttentionHeads * headDim
        let kv = numKeyValueHeads * headDim
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocabSize, d]), ("model.norm.weight", [d])]
        if !tieWordEmbeddings { list.append(("lm_head.weight", [vocabSize, d])) }
        for l in 0..<numHiddenLayers {
            let p = "model.layers.\(l)."
            list += [
                (p + "input_layernorm.weight", [d]),
                (p + "post_attention_layernorm.weight", [d]),
            ]
            if fusedProjections {
                list += [
                    (p + "self_attn.qkv_proj.weight", [q + 2 * kv, d]),
                    (p + "self_attn.o_proj.weight", [d, q]),
                    (p + "mlp.gate_up_proj.weight", [2 * intermediateSize, d]),
                    (p + "mlp.down_proj.weight", [d, intermediateSize]),
                ]
            } else {
                list += [
                    (p + "self_attn.q_proj.weight", [q, d]),
                    (p + "self_attn.k_proj.weight", [kv, d]),
                    (p + "self_attn.v_proj.weight", [kv, d]),
                    (p + "self_attn.o_proj.weight", [d, q]),
                    (p + "mlp.gate_proj.weight", [intermediateSize, d]),
                    (p + "mlp.up_proj.weight", [intermediateSize, d]),
                    (p + "mlp.down_proj.weight", [d, intermediateSize]),
                ]
            }
            if attentionBias {
                list += [
                    (p + "self_attn.q_proj.bias", [q]), (p + "self_attn.k_proj.bias", [kv]),
                    (p + "self_attn.v_proj.bias", [kv]),
                ]
            }
            if qkNorm {
                list += [(p + "self_attn.q_norm.weight", [headDim]), (p + "self_attn.k_norm.weight", [headDim])]
            }
            if isGemma {
                list += [(p + "pre_feedforward_layernorm.weight", [d]), (p + "post_feedforward_layernorm.weight", [d])]
            }
        }
        return list
    }
}

extension ModelConfig {
    /// Names among `names` that look like decoder-layer weights (`model.layers.N.…`) but are not ones this
    /// config uses: a layer beyond `num_hidden_layers`, or a weight the architecture does not have. A
    /// config that under-counts the layers would otherwise convert and silently drop weights.
    public func unexpectedLayerTensors(_ names: [String]) -> [String] {
        let required = Set(requiredTensors.map(\.name))
        return names.filter { $0.hasPrefix("model.layers.") && !required.contains($0) }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

// MARK: - Tokenizer

public struct AddedToken: Codable, Sendable, Equatable {
    public var id: Int
    public var content: String
    public var special: Bool
    public var lstrip: Bool
    public var rstrip: Bool
    public var normalized: Bool
    public var singleWord: Bool

    public init(
        id: Int, content: String, special: Bool = true, lstrip: Bool = false, rstrip: Bool = false,
        normalized: Bool = false, singleWord: Bool = false
    ) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.singleWord = singleWord
    }
}

/// The two tokenizer families; formats/mtf.md describes each.
public enum TokenizerKind: String, Codable, Sendable, CaseIterable {
    /// GPT-2 style: bytes mapped to a printable alphabet, a regex pre-tokenizer (SmolLM, Llama 3, Qwen).
    case byteLevelBPE = "byte_level_bpe"
    /// SentencePiece style: "▁" for spaces, `<0xNN>` byte fallback (Llama 2, Mistral, TinyLlama, Gemma).
    case sentencePieceBPE = "sentencepiece_bpe"

    /// What `leandpo inspect` prints.
    public var displayName: String {
        switch self {
        case .byteLevelBPE: "byte-level BPE"
        case .sentencePieceBPE: "SentencePiece BPE"
        }
    }
}

/// One step of a SentencePiece tokenizer's normalizer or decoder, as tokenizer.json spells it.
public struct SentencePieceStep: Codable, Sendable, Equatable {
    /// Normalizer: "prepend", "replace". Decoder: "replace", "byte_fallback", "fuse", "strip", "metaspace".
    public var type: String
    /// The text searched for (replace) or the replacement character (metaspace).
    public var pattern: String?
    /// The text inserted (prepend, replace) or stripped (strip).
    public var content: String?
    /// strip: how many leading and trailing `content` characters to remove.
    public var start: Int?
    public var stop: Int?
    /// metaspace decoder: "always", "first" or "never" (the first token loses its leading replacement unless never).
    public var prependScheme: String?

    public init(
        type: String, pattern: String? = nil, content: String? = nil, start: Int? = nil, stop: Int? = nil,
        prependScheme: String? = nil
    ) {
        self.type = type
        self.pattern = pattern
        self.content = content
        self.start = start
        self.stop = stop
        self.prependScheme = prependScheme
    }

    public static func prepend(_ content: String) -> Self { .init(type: "prepend", content: content) }
    public static func replace(_ pattern: String, _ content: String) -> Self {
        .init(type: "replace", pattern: pattern, content: content)
    }
    public static let byteFallback = Self(type: "byte_fallback")
    public static let fuse = Self(type: "fuse")
    public static func strip(_ content: String, start: Int, stop: Int) -> Self {
        .init(type: "strip", content: content, start: start, stop: stop)
    }
}

/// tokenizers' Metaspace pre-tokenizer.
public struct MetaspaceOptions: Codable, Sendable, Equatable {
    public var replacement: String
    /// "always", "first" (only text at offset 0 of the input) or "never".
    public var prependScheme: String
    /// Cut the text before each replacement character (words then never merge across a space).
    public var split: Bool

    public init(replacement: String = "\u{2581}", prependScheme: String, split: Bool) {
        self.replacement = replacement
        self.prependScheme = prependScheme
        self.split = split
    }
}

/// The SentencePiece-specific part of TokenizerData (kind sentencepiece_bpe).
public struct SentencePieceOptions: Codable, Sendable, Equatable {
    public var normalizer: [SentencePieceStep]
    public var metaspace: MetaspaceOptions?
    public var decoder: [SentencePieceStep]
    public var byteFallback: Bool
    public var fuseUnk: Bool
    public var ignoreMerges: Bool
    /// The model's unk token (tokenizers' BPE unk_token), used for characters with no piece and no byte token.
    public var unkToken: String?
    /// GGUF "llama" tokenizers: the score of each token; merges go to the highest-scored piece (llama.cpp).
    public var scores: [Float]?
    /// GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), kept for export.
    public var tokenTypes: [Int]?

    public init(
        normalizer: [SentencePieceStep], metaspace: MetaspaceOptions?, decoder: [SentencePieceStep],
        byteFallback: Bool = true, fuseUnk: Bool = true, ignoreMerges: Bool = false, unkToken: String? = nil,
        scores: [Float]? = nil, tokenTypes: [Int]? = nil
    ) {
        self.unkToken = unkToken
        self.normalizer = normalizer
        self.metaspace = metaspace
        self.decoder = decoder
        self.byteFallback = byteFallback
        self.fuseUnk = fuseUnk
        self.ignoreMerges = ignoreMerges
        self.scores = scores
        self.tokenTypes = tokenTypes
    }

    /// llama.cpp's SentencePiece pipeline (and Hugging Face's legacy Llama one): each text piece between
    /// added tokens gets "▁" prepended when `addSpacePrefix`, spaces become "▁"; decoding undoes both.
    public static func llama(addSpacePrefix: Bool) -> Self {
        Self(
            normalizer: (addSpacePrefix ? [.prepend("\u{2581}")] : []) + [.replace(" ", "\u{2581}")], metaspace: nil,
            decoder: [.replace("\u{2581}", " "), .byteFallback, .fuse] + (addSpacePrefix ? [.strip(" ", start: 1, stop: 0)] : []))
    }
}

/// A BPE tokenizer as data (from tokenizer.json or GGUF's tokenizer.ggml.* keys): byte-level or SentencePiece.
public struct TokenizerData: Codable, Sendable, Equatable {
    /// Absent (nil) in files from before SentencePiece support: byte-level. Written only for SentencePiece,
    /// so byte-level files keep their bytes.
    public var kind: TokenizerKind?
    /// Pre-tokenizer split rules: "smollm" (digits one by one, then GPT-2), "gpt2", "llama3", "qwen2";
    /// "sentencepiece" for the SentencePiece kind (its rules are in `sentencePiece`).
    public var preTokenizer: String
    /// Token strings in id order: GPT-2's byte-to-unicode alphabet for byte-level BPE, the pieces as written
    /// ("▁" for a space) for SentencePiece (added tokens included).
    public var vocab: [String]
    /// Merges in rank order, each "left right".
    public var merges: [String]
    /// Tokens matched in the raw text before BPE (special tokens and user-defined ones).
    public var addedTokens: [AddedToken]
    public var bosToken: String?
    public var eosToken: String?
    public var padToken: String?
    public var unkToken: String?
    public var addBosToken: Bool
    public var addEosToken: Bool
    /// The SentencePiece pipeline; set exactly when kind is sentencePieceBPE.
    public var sentencePiece: SentencePieceOptions?

    public var family: TokenizerKind { kind ?? .byteLevelBPE }

    /// A merge "left right" split at its one U+0020 (by scalars: String.split works on characters, and a
    /// space followed by a combining mark, as in SentencePiece's "❤ ️", is one character); nil unless
    /// there is exactly one space with text on both sides.
    public static func splitMerge(_ merge: String) -> (left: String, right: String)? {
        let scalars = merge.unicodeScalars
        guard let space = scalars.firstIndex(of: " "), space != scalars.startIndex else { return nil }
        let after = scalars.index(after: space)
        guard after != scalars.endIndex, !scalars[after...].contains(" ") else { return nil }
        return (String(scalars[..<space]), String(scalars[after...]))
    }

    public init(
        preTokenizer: String, vocab: [String], merges: [String], addedTokens: [AddedToken],
        bosToken: String? = nil, eosToken: String? = nil, padToken: String? = nil, unkToken: String? = nil,
        addBosToken: Bool = false, addEosToken: Bool = false, sentencePiece: SentencePieceOptions? = nil
    ) {
        self.kind = sentencePiece == nil ? nil : .sentencePieceBPE
        self.sentencePiece = sentencePiece
        self.preTokenizer = preTokenizer
        self.vocab = vocab
        self.merges = merges
        self.addedTokens = addedTokens
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.padToken = padToken
        self.unkToken = unkToken
        self.addBosToken = addBosToken
        self.addEosToken = addEosToken
    }
}

// MARK: - Provenance and the whole metadata block

public struct Provenance: Codable, Sendable, Equatable {
    /// "gguf", "safetensors", "mtf" (an export or re-encode of an MTF file).
    public var sourceFormat: String
    /// File or directory name of the source (no directories above it).
    public var sourceName: String
    /// XXH64 of the source file's bytes (the index or first shard for a directory), hex.
    public var sourceXxh64: String
    public var converter: String
    public var converterVersion: String
    /// The Hugging Face id or directory the weights came from, when known (an HF directory's
    /// `_name_or_path` or path, a GGUF's source repository, or `convert --base-model`); saved adapters
    /// name it as `base_model_name_or_path`. Absent in files written before it existed.
    public var baseModel: String?

    public init(
        sourceFormat: String, sourceName: String, sourceXxh64: String, converter: String, converterVersion: String,
        baseModel: String? = nil
    ) {
        self.sourceFormat = sourceFormat
        self.sourceName = sourceName
        self.sourceXxh64 = sourceXxh64
        self.converter = converter
        self.converterVersion = converterVersion
        self.baseModel = baseModel
    }
}

public struct MTFMetadata: Codable, Sendable, Equatable {
    public var config: ModelConfig
    public var tokenizer: TokenizerData
    public var chatTemplate: String?
    public var provenance: Provenance

    public init(config: ModelConfig, tokenizer: TokenizerData, chatTemplate: String?, provenance: Provenance) {
        self.config = config
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.provenance = provenance
    }
}
