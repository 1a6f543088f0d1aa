// The metadata an MTF file carries: architecture config, tokenizer, chat template and provenance.
// Stored as JSON in the header (snake_case keys); see formats/mtf.md.

// MARK: - Architecture config

public struct RopeScaling: Codable, Sendable, Equatable {
    /// "llama3" or "linear"; "default" means no scaling.
    public var ropeType: String
    public var factor: Double
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?

    public init(
        ropeType: String, factor: Double, lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
        originalMaxPositionEmbeddings: Int? = nil
    ) {
        self.ropeType = ropeType
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }
}

/// Every field the model code needs, in Hugging Face's vocabulary.
public struct ModelConfig: Codable, Sendable, Equatable {
    public enum Architecture: String, Codable, Sendable, CaseIterable {
        case llama, qwen2, qwen3
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

    public init(
        architecture: Architecture, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
        numAttentionHeads: Int, numKeyValueHeads: Int, headDim: Int? = nil, rmsNormEps: Double,
        ropeTheta: Double, ropeScaling: RopeScaling? = nil, maxPositionEmbeddings: Int, vocabSize: Int,
        tieWordEmbeddings: Bool, attentionBias: Bool = false, qkNorm: Bool = false, hiddenAct: String = "silu",
        bosTokenId: Int? = nil, eosTokenIds: [Int] = [], padTokenId: Int? = nil
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
        guard hiddenAct == "silu" else { throw ConfigError("hidden_act \(hiddenAct) is not supported (only silu)") }
        try positive(maxPositionEmbeddings, "max_position_embeddings")
        if let s = ropeScaling {
            guard s.factor.isFinite, s.factor > 0 else { throw ConfigError("rope_scaling.factor must be > 0, got \(s.factor)") }
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
                (p + "self_attn.q_proj.weight", [q, d]),
                (p + "self_attn.k_proj.weight", [kv, d]),
                (p + "self_attn.v_proj.weight", [kv, d]),
                (p + "self_attn.o_proj.weight", [d, q]),
                (p + "mlp.gate_proj.weight", [intermediateSize, d]),
                (p + "mlp.up_proj.weight", [intermediateSize, d]),
                (p + "mlp.down_proj.weight", [d, intermediateSize]),
            ]
            if attentionBias {
                list += [
                    (p + "self_attn.q_proj.bias", [q]), (p + "self_attn.k_proj.bias", [kv]),
                    (p + "self_attn.v_proj.bias", [kv]),
                ]
            }
            if qkNorm {
                list += [(p + "self_attn.q_norm.weight", [headDim]), (p + "self_attn.k_norm.weight", [headDim])]
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

/// A byte-level BPE tokenizer as data (from tokenizer.json or GGUF's tokenizer.ggml.* keys).
public struct TokenizerData: Codable, Sendable, Equatable {
    /// Pre-tokenizer split rules: "smollm" (digits one by one, then GPT-2), "gpt2", "llama3", "qwen2".
    public var preTokenizer: String
    /// Token strings in id order, in GPT-2's byte-to-unicode alphabet (added tokens included).
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

    public init(
        preTokenizer: String, vocab: [String], merges: [String], addedTokens: [AddedToken],
        bosToken: String? = nil, eosToken: String? = nil, padToken: String? = nil, unkToken: String? = nil,
        addBosToken: Bool = false, addEosToken: Bool = false
    ) {
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

    public init(sourceFormat: String, sourceName: String, sourceXxh64: String, converter: String, converterVersion: String) {
        self.sourceFormat = sourceFormat
        self.sourceName = sourceName
        self.sourceXxh64 = sourceXxh64
        self.converter = converter
        self.converterVersion = converterVersion
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
