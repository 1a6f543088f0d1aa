// ModelConfig → the config.json and generation_config.json transformers 5 writes (its
// PretrainedConfig.to_json_string and the model's configuration_*.py): sorted keys, two-space indent,
// `dtype`, RoPE in `rope_parameters`, model_type and architectures from our architecture. The inverse of
// HFConfig.modelConfig.

import JSON
import TensorFile

public enum HFConfigWriter {
    /// transformers' name of an MTF float dtype.
    public static func torchDType(_ d: DType) -> String? {
        switch d {
        case .f32: "float32"
        case .bf16: "bfloat16"
        case .f16: "float16"
        default: nil
        }
    }

    /// config.json for `c` with weights stored as `dtype`.
    public static func config(_ c: ModelConfig, dtype: DType) throws -> JSONText {
        guard let torch = torchDType(dtype) else {
            throw ModelFileError(.unsupported, "config.json", "dtype \(dtype.rawValue) has no transformers name (f32, bf16, f16)")
        }
        var f: [String: JSONText] = [
            "bos_token_id": .optional(c.bosTokenId),
            "eos_token_id": eos(c.eosTokenIds),
            "pad_token_id": .optional(c.padTokenId),
            "dtype": .string(torch),
            "attention_dropout": .double(0),
            "head_dim": .int(c.headDim),
            "hidden_act": .string(c.hiddenAct),
            "hidden_size": .int(c.hiddenSize),
            "initializer_range": .double(0.02),
            "intermediate_size": .int(c.intermediateSize),
            "max_position_embeddings": .int(c.maxPositionEmbeddings),
            "num_attention_heads": .int(c.numAttentionHeads),
            "num_hidden_layers": .int(c.numHiddenLayers),
            "num_key_value_heads": .int(c.numKeyValueHeads),
            "rms_norm_eps": .double(c.rmsNormEps),
            "rope_parameters": try rope(c),
            "tie_word_embeddings": .bool(c.tieWordEmbeddings),
            "use_cache": .bool(true),
            "vocab_size": .int(c.vocabSize),
        ]
        switch c.architecture {
        case .llama:
            f["architectures"] = .array([.string("LlamaForCausalLM")])
            f["model_type"] = .string("llama")
            f["attention_bias"] = .bool(c.attentionBias)
            f["mlp_bias"] = .bool(false)
            f["pretraining_tp"] = .int(1)
        case .mistral:
            guard !c.attentionBias, c.layerTypes == nil else {
                throw ModelFileError(
                    .unsupported, "config.json", "a mistral model with q/k/v biases or per-layer windows has no transformers equivalent")
            }
            f["architectures"] = .array([.string("MistralForCausalLM")])
            f["model_type"] = .string("mistral")
            f["sliding_window"] = .optional(c.slidingWindow)
        case .phi3:
            f["architectures"] = .array([.string("Phi3ForCausalLM")])
            f["model_type"] = .string("phi3")
            f["sliding_window"] = .optional(c.slidingWindow)
            f["embd_pdrop"] = .double(0)
            f["resid_pdrop"] = .double(0)
            f["original_max_position_embeddings"] = .int(c.ropeScaling?.originalMaxPositionEmbeddings ?? c.maxPositionEmbeddings)
        case .qwen2, .qwen3:
            let qwen3 = c.architecture == .qwen3
            guard qwen3 || c.attentionBias else {
                throw ModelFileError(.unsupported, "config.json", "a qwen2 model without q/k/v biases has no transformers equivalent")
            }
            f["architectures"] = .array([.string(qwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM")])
            f["model_type"] = .string(c.architecture.rawValue)
            if qwen3 { f["attention_bias"] = .bool(c.attentionBias) }
            f["use_sliding_window"] = .bool(c.slidingWindow != nil)
            f["sliding_window"] = .optional(c.slidingWindow)
            f["max_window_layers"] = .int(c.numHiddenLayers)
            if c.slidingWindow != nil {
                let types = c.layerTypes ?? Array(repeating: "sliding_attention", count: c.numHiddenLayers)
                f["layer_types"] = .array(types.map { .string($0) })
            }
        case .gemma2, .gemma3:
            let gemma3 = c.architecture == .gemma3
            f["architectures"] = .array([.string(gemma3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM")])
            f["model_type"] = .string(gemma3 ? "gemma3_text" : "gemma2")
            f["attention_bias"] = .bool(c.attentionBias)
            f["hidden_activation"] = .string(c.hiddenAct)
            f["hidden_act"] = nil
            // Gemma2Config types it as an int (strictly checked on load); any integral value is written as one.
            f["query_pre_attn_scalar"] = c.queryPreAttnScalar.map { $0 == $0.rounded() && abs($0) < 1e9 ? .int(Int($0)) : .double($0) } ?? .null
            f["attn_logit_softcapping"] = c.attnLogitSoftcapping.map { .double($0) } ?? .null
            f["final_logit_softcapping"] = c.finalLogitSoftcapping.map { .double($0) } ?? .null
            // Without a window every layer attends globally: a window as long as the context is the same model.
            f["sliding_window"] = .int(c.slidingWindow ?? c.maxPositionEmbeddings)
            f["layer_types"] = .array(
                (0..<c.numHiddenLayers).map {
                    .string(c.isSlidingLayer($0) || (c.layerTypes == nil && $0 % 2 == 0) ? "sliding_attention" : "full_attention")
                })
            if gemma3 {
                // transformers 5 keeps one rope_parameters per layer type; the sliding layers' RoPE is never scaled.
                f["rope_parameters"] = .sorted([
                    "full_attention": try rope(c),
                    "sliding_attention": .sorted(["rope_theta": .double(c.ropeLocalBaseFreq ?? 10000), "rope_type": .string("default")]),
                ])
                f["use_bidirectional_attention"] = .bool(false)
            }
        }
        return .sorted(f)
    }

    /// generation_config.json: the special token ids, as transformers derives it from the model config.
    public static func generationConfig(_ c: ModelConfig) -> JSONText {
        var f: [String: JSONText] = ["_from_model_config": .bool(true)]
        if let b = c.bosTokenId { f["bos_token_id"] = .int(b) }
        if !c.eosTokenIds.isEmpty { f["eos_token_id"] = eos(c.eosTokenIds) }
        if let p = c.padTokenId { f["pad_token_id"] = .int(p) }
        return .sorted(f)
    }

    static func eos(_ ids: [Int]) -> JSONText {
        switch ids.count {
        case 0: .null
        case 1: .int(ids[0])
        default: .array(ids.map { .int($0) })
        }
    }

    /// rope_parameters: theta and the scaling, if any.
    static func rope(_ c: ModelConfig) throws -> JSONText {
        var f: [String: JSONText] = ["rope_theta": .double(c.ropeTheta), "rope_type": .string("default")]
        if let s = c.ropeScaling {
            f["rope_type"] = .string(s.ropeType)
            f["factor"] = .double(s.factor)
            switch s.ropeType {
            case "linear": break
            case "llama3":
                guard let lo = s.lowFreqFactor, let hi = s.highFreqFactor, let orig = s.originalMaxPositionEmbeddings else {
                    throw ModelFileError(
                        .unsupported, "config.json", "llama3 rope scaling without its low/high frequency factors and original length")
                }
                f["low_freq_factor"] = .double(lo)
                f["high_freq_factor"] = .double(hi)
                f["original_max_position_embeddings"] = .int(orig)
            case "longrope":
                guard let short = s.shortFactor, let long = s.longFactor, let orig = s.originalMaxPositionEmbeddings else {
                    throw ModelFileError(.unsupported, "config.json", "longrope scaling without its factors and original length")
                }
                f["short_factor"] = .array(short.map { .double($0) })
                f["long_factor"] = .array(long.map { .double($0) })
                f["original_max_position_embeddings"] = .int(orig)
                f["attention_factor"] = s.attentionFactor.map { .double($0) } ?? .null
            default:
                throw ModelFileError(.unsupported, "config.json", "rope scaling \(s.ropeType) cannot be written (linear, llama3, longrope)")
            }
        }
        return .sorted(f)
    }
}
