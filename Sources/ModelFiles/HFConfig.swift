// Hugging Face config.json → ModelConfig (transformers' configuration_llama.py and its siblings), reading
// both the transformers 4 spellings (rope_theta, rope_scaling, torch_dtype) and the transformers 5 ones
// (rope_parameters, dtype). model_type llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3.

import JSON
import TensorFile

public enum HFConfig {
    /// Parses a config.json value. `notes` collects settings read loosely or ignored.
    public static func modelConfig(_ json: JSONValue, path: String, notes: inout [String]) throws -> ModelConfig {
        let f = JSONFields(value: json, path: path)
        guard json.object != nil else { throw ModelFileError(.malformed, path, "config is not a JSON object") }
        guard let modelType = try f.string("model_type") else {
            throw ModelFileError(.missing, path, "required key model_type is missing", at: "key model_type")
        }
        let arch: ModelConfig.Architecture
        switch modelType {
        case "llama": arch = .llama
        case "mistral": arch = .mistral
        case "qwen2": arch = .qwen2
        case "qwen3": arch = .qwen3
        case "gemma2": arch = .gemma2
        case "gemma3_text": arch = .gemma3
        case "phi3": arch = .phi3
        case "gemma3":
            throw ModelFileError(
                .unsupported, path,
                "model_type gemma3 (the multimodal Gemma3ForConditionalGeneration) is not supported; only the text model gemma3_text is",
                at: "key model_type")
        default:
            throw ModelFileError(
                .unsupported, path, "model_type \(modelType) is not supported (llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3)",
                at: "key model_type")
        }
        let gemma = arch == .gemma2 || arch == .gemma3
        let hidden = try f.requiredInt("hidden_size")
        let heads = try f.requiredInt("num_attention_heads")
        let kvHeads = try f.int("num_key_value_heads") ?? heads

        // RoPE: transformers 5 nests theta and scaling in rope_parameters; 4 has them at the top level.
        var params = try f.object("rope_parameters")
        // Gemma 3: transformers 5 nests one rope_parameters per layer type; 4 has rope_local_base_freq for the sliding
        // layers beside rope_theta/rope_scaling for the global ones. The sliding layers' RoPE is never scaled.
        var localTheta: Double?
        if arch == .gemma3 {
            if let full = try params?.object("full_attention") {
                if let sliding = try params?.object("sliding_attention") {
                    let type = try sliding.string("rope_type") ?? "default"
                    guard type == "default" else {
                        throw ModelFileError(
                            .unsupported, path, "rope type \(type) of the sliding layers is not supported (default)",
                            at: "key \(sliding.prefix)rope_type")
                    }
                    localTheta = try sliding.double("rope_theta")
                }
                params = full
            }
            localTheta = try localTheta ?? f.double("rope_local_base_freq") ?? 10000
        }
        let theta = try params?.double("rope_theta") ?? f.double("rope_theta") ?? 10000
        // Rotating only part of each head (Phi-3's partial_rotary_factor, Phi-4-mini's 0.75) is not implemented.
        for fields in [params, f] {
            if let fields, let p = try fields.double("partial_rotary_factor"), p != 1 {
                throw ModelFileError(
                    .unsupported, path, "partial_rotary_factor \(p) is not supported (only 1: RoPE on the whole head)",
                    at: "key \(fields.prefix)partial_rotary_factor")
            }
        }
        var scaling: RopeScaling?
        if let s = try params ?? f.object("rope_scaling") {
            var type = try s.string("rope_type") ?? s.string("type") ?? "default"
            // Phi3Config reads its older names for LongRoPE as longrope.
            if arch == .phi3 && (type == "su" || type == "yarn") { type = "longrope" }
            switch type {
            case "default": break
            case "linear":
                scaling = RopeScaling(ropeType: "linear", factor: try requiredNumber(s, "factor", path))
            case "llama3":
                scaling = RopeScaling(
                    ropeType: "llama3", factor: try requiredNumber(s, "factor", path),
                    lowFreqFactor: try requiredNumber(s, "low_freq_factor", path),
                    highFreqFactor: try requiredNumber(s, "high_freq_factor", path),
                    originalMaxPositionEmbeddings: try s.requiredInt("original_max_position_embeddings"))
            case "longrope":
                scaling = try longRope(s, top: f, phi3: arch == .phi3, path: path)
            default:
                throw ModelFileError(
                    .unsupported, path, "rope type \(type) is not supported (default, linear, llama3, longrope)", at: "key \(s.prefix)rope_type")
            }
        }

        if try f.bool("mlp_bias") == true {
            throw ModelFileError(.unsupported, path, "mlp_bias true is not supported", at: "key mlp_bias")
        }
        // Sliding windows as transformers applies them: Mistral on every layer whenever sliding_window is set
        // (layer_types ignored, as MistralConfig does); Qwen2/3 only with use_sliding_window, on the layers
        // layer_types marks, by default those from max_window_layers on; Llama never.
        var window: Int?
        var layerTypes: [String]?
        let layers = try f.requiredInt("num_hidden_layers")
        switch arch {
        case .mistral, .phi3:
            window = try f.int("sliding_window")
        case .qwen2, .qwen3:
            if try f.bool("use_sliding_window") == true, let w = try f.int("sliding_window") {
                var types: [String]
                if let v = json["layer_types"], !v.isNull {
                    guard let a = v.array, a.allSatisfy({ $0.string != nil }) else {
                        throw ModelFileError(.malformed, path, "layer_types must be a list of strings", at: "key layer_types")
                    }
                    types = a.map { $0.string! }
                } else {
                    let from = try f.int("max_window_layers") ?? 28
                    types = (0..<max(0, layers)).map { $0 >= from ? "sliding_attention" : "full_attention" }
                }
                if types.contains("sliding_attention") {
                    window = w
                    layerTypes = types
                }
            }
        case .llama:
            break
        case .gemma2, .gemma3:
            // On the layers layer_types marks sliding (read below); 4096 is both configs' default.
            window = try f.int("sliding_window") ?? 4096
        }

        var eos: [Int] = []
        if let v = json["eos_token_id"], !v.isNull {
            if let i = v.int {
                eos = [i]
            } else if let a = v.array, a.allSatisfy({ $0.int != nil }) {
                eos = a.map { $0.int! }
            } else {
                throw ModelFileError(.malformed, path, "eos_token_id must be an integer or a list of integers", at: "key eos_token_id")
            }
        }
        let attentionBias = try f.bool("attention_bias") ?? false
        // Gemma 2's defaults (Gemma2Config) apply when a key is absent; an explicit null switches a cap off.
        func optionalNumber(_ key: String, default value: Double?) throws -> Double? {
            guard let v = json[key] else { return value }
            return v.isNull ? nil : try f.double(key)
        }
        // Which layers slide: layer_types, else Gemma 3's sliding_window_pattern (every pattern-th layer global), else
        // Gemma 2's alternation (even layers slide).
        if gemma {
            if let v = json["layer_types"], !v.isNull {
                guard let a = v.array, a.allSatisfy({ $0.string != nil }) else {
                    throw ModelFileError(.malformed, path, "layer_types must be a list of strings", at: "key layer_types")
                }
                layerTypes = a.map { $0.string! }
            } else {
                let n = try f.requiredInt("num_hidden_layers")
                let pattern = try arch == .gemma3 ? f.int("sliding_window_pattern") ?? f.int("_sliding_window_pattern") ?? 6 : 2
                guard pattern >= 1 else {
                    throw ModelFileError(.unsupported, path, "sliding_window_pattern \(pattern) must be ≥ 1", at: "key sliding_window_pattern")
                }
                layerTypes = (0..<n).map { (arch == .gemma3 ? ($0 + 1) % pattern != 0 : $0 % 2 == 0) ? "sliding_attention" : "full_attention" }
            }
        }
        let hiddenAct: String
        if gemma {
            hiddenAct = try f.string("hidden_activation") ?? f.string("hidden_act") ?? "gelu_pytorch_tanh"
            if try f.bool("use_bidirectional_attention") == true {
                throw ModelFileError(.unsupported, path, "use_bidirectional_attention true is not supported", at: "key use_bidirectional_attention")
            }
        } else {
            hiddenAct = try f.string("hidden_act") ?? f.string("hidden_activation") ?? "silu"
        }
        return ModelConfig(
            architecture: arch, hiddenSize: hidden, intermediateSize: try f.requiredInt("intermediate_size"),
            numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads,
            headDim: try f.int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            rmsNormEps: try f.double("rms_norm_eps") ?? 1e-6, ropeTheta: theta, ropeScaling: scaling,
            maxPositionEmbeddings: try f.int("max_position_embeddings") ?? (arch == .gemma3 ? 131_072 : gemma ? 8192 : 2048),
            vocabSize: try f.requiredInt("vocab_size"),
            tieWordEmbeddings: try f.bool("tie_word_embeddings") ?? gemma,
            attentionBias: arch == .qwen2 || attentionBias, qkNorm: arch == .qwen3 || arch == .gemma3, hiddenAct: hiddenAct,
            bosTokenId: try f.int("bos_token_id"), eosTokenIds: eos, padTokenId: try f.int("pad_token_id"),
            slidingWindow: window, queryPreAttnScalar: gemma ? try optionalNumber("query_pre_attn_scalar", default: 256) : nil,
            // Gemma3TextConfig has no caps by default.
            attnLogitSoftcapping: gemma ? try optionalNumber("attn_logit_softcapping", default: arch == .gemma3 ? nil : 50) : nil,
            finalLogitSoftcapping: gemma ? try optionalNumber("final_logit_softcapping", default: arch == .gemma3 ? nil : 30) : nil,
            ropeLocalBaseFreq: localTheta, layerTypes: layerTypes)
    }

    /// Reads and parses the config.json at `path`.
    public static func modelConfig(path: String, notes: inout [String]) throws -> ModelConfig {
        try modelConfig(try JSONValue.read(path), path: path, notes: &notes)
    }

    /// The checkpoint's stored dtype name (torch_dtype in transformers 4, dtype in 5), if given.
    public static func storedDType(_ json: JSONValue) -> String? {
        json["dtype"]?.string ?? json["torch_dtype"]?.string
    }

    /// transformers' _compute_longrope_parameters: the factors as given; the original length from Phi-3's top-level
    /// original_max_position_embeddings (which Phi3Config prefers), else the rope parameters', else
    /// max_position_embeddings; factor max/original unless given; the attention factor derived from it unless given.
    static func longRope(_ s: JSONFields, top f: JSONFields, phi3: Bool, path: String) throws -> RopeScaling {
        func factors(_ key: String) throws -> [Double] {
            guard let v = s.value[key], let a = v.array, a.allSatisfy({ $0.double != nil }) else {
                throw ModelFileError(.malformed, path, "\(s.prefix)\(key) must be a list of numbers", at: "key \(s.prefix)\(key)")
            }
            return a.map { $0.double! }
        }
        let maxPositions = try f.int("max_position_embeddings") ?? 4096
        let original = try (phi3 ? f.int("original_max_position_embeddings") : nil) ?? s.int("original_max_position_embeddings") ?? maxPositions
        guard original > 1 else {
            throw ModelFileError(
                .unsupported, path, "original_max_position_embeddings \(original) must be > 1", at: "key original_max_position_embeddings")
        }
        let factor = try s.double("factor") ?? Double(maxPositions) / Double(original)
        let attention = try s.double("attention_factor") ?? RopeScaling.longRopeAttentionFactor(factor: factor, original: original)
        return RopeScaling(
            ropeType: "longrope", factor: factor, originalMaxPositionEmbeddings: original, shortFactor: try factors("short_factor"),
            longFactor: try factors("long_factor"), attentionFactor: attention)
    }

    private static func requiredNumber(_ f: JSONFields, _ key: String, _ path: String) throws -> Double {
        guard let d = try f.double(key) else {
            throw ModelFileError(.missing, path, "required key \(f.prefix)\(key) is missing", at: "key \(f.prefix)\(key)")
        }
        return d
    }
}
