// config.json → ModelConfig: the transformers 4 and 5 spellings agree, family differences (Qwen2 bias,
// Qwen3 q/k norm and head_dim, Mistral), rope scaling in both spellings, and clear errors.

import Foundation
import JSON
import ModelFiles
import TensorFile
import Testing

func parseConfig(_ json: String) throws -> ModelConfig {
    var notes: [String] = []
    return try HFConfig.modelConfig(try JSONValue.parse(Data(json.utf8), path: "config.json"), path: "config.json", notes: &notes)
}

/// A Llama config.json body; `extra` is spliced in as more keys.
func llamaConfigJSON(_ extra: String = "", modelType: String = "llama") -> String {
    """
    {"model_type": "\(modelType)", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-05, "vocab_size": 10,
     "max_position_embeddings": 512, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2\(extra.isEmpty ? "" : ", " + extra)}
    """
}

@Test func transformers4And5SpellingsGiveTheSameConfig() throws {
    var notes: [String] = []
    let v5 = try HFConfig.modelConfig(try JSONValue.read(Fixture.path("hf_config_v5_base_tiny.json")), path: "v5", notes: &notes)
    let v4 = try HFConfig.modelConfig(try JSONValue.read(Fixture.path("hf_config_v4_base_tiny.json")), path: "v4", notes: &notes)
    #expect(v4 == v5)
    #expect(v5.architecture == .llama && v5.hiddenSize == 576 && v5.intermediateSize == 1536 && v5.numHiddenLayers == 2)
    #expect(v5.numAttentionHeads == 9 && v5.numKeyValueHeads == 3 && v5.headDim == 64)
    #expect(v5.ropeTheta == 100000 && v5.ropeScaling == nil && v5.rmsNormEps == 1e-5 && v5.maxPositionEmbeddings == 8192)
    #expect(v5.vocabSize == 49152 && v5.tieWordEmbeddings && !v5.attentionBias && !v5.qkNorm)
    #expect(v5.bosTokenId == 1 && v5.eosTokenIds == [2] && v5.padTokenId == nil)
    #expect(HFConfig.storedDType(try JSONValue.read(Fixture.path("hf_config_v5_base_tiny.json"))) == "float32")
    #expect(HFConfig.storedDType(try JSONValue.read(Fixture.path("hf_config_v4_base_tiny.json"))) == "float32")
}

@Test func llama3RopeScalingInBothSpellings() throws {
    let params = #""factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192"#
    let v4 = try parseConfig(llamaConfigJSON(#""rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", \#(params)}"#))
    let v5 = try parseConfig(llamaConfigJSON(#""rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, \#(params)}"#))
    let old = try parseConfig(llamaConfigJSON(#""rope_theta": 500000.0, "rope_scaling": {"type": "llama3", \#(params)}"#))
    let want = RopeScaling(ropeType: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)
    #expect(v4.ropeScaling == want && v4.ropeTheta == 500000)
    #expect(v5 == v4 && old == v4)
    let linear = try parseConfig(llamaConfigJSON(#""rope_scaling": {"type": "linear", "factor": 2}"#))
    #expect(linear.ropeScaling == RopeScaling(ropeType: "linear", factor: 2) && linear.ropeTheta == 10000)
}

@Test func familyDifferences() throws {
    let base = try parseConfig(llamaConfigJSON())
    #expect(base.headDim == 8 && base.eosTokenIds == [2] && !base.tieWordEmbeddings)
    let list = try parseConfig(llamaConfigJSON().replacingOccurrences(of: #""eos_token_id": 2"#, with: #""eos_token_id": [2, 9]"#))
    #expect(list.eosTokenIds == [2, 9])
    let mistral = try parseConfig(llamaConfigJSON(#""head_dim": 16, "sliding_window": 4096"#, modelType: "mistral"))
    #expect(mistral.architecture == .mistral && mistral.headDim == 16 && mistral.slidingWindow == 4096 && mistral.layerTypes == nil)
    #expect(mistral.attentionWindow(layer: 1) == 4096)
    let mistralNoWindow = try parseConfig(llamaConfigJSON(#""sliding_window": null"#, modelType: "mistral"))
    #expect(mistralNoWindow.architecture == .mistral && mistralNoWindow.slidingWindow == nil)
    // transformers' Llama has no window: the key is ignored there, as transformers does.
    #expect(try parseConfig(llamaConfigJSON(#""sliding_window": 4"#)).slidingWindow == nil)
    // Qwen2: only with use_sliding_window, on the layers from max_window_layers on (or as layer_types says).
    #expect(try parseConfig(llamaConfigJSON(#""sliding_window": 8, "max_window_layers": 1"#, modelType: "qwen2")).slidingWindow == nil)
    let qwenSliding = try parseConfig(
        llamaConfigJSON(#""use_sliding_window": true, "sliding_window": 8, "max_window_layers": 1"#, modelType: "qwen2"))
    #expect(qwenSliding.layerTypes == ["full_attention", "sliding_attention"] && qwenSliding.slidingWindow == 8)
    #expect(qwenSliding.attentionWindow(layer: 0) == nil && qwenSliding.attentionWindow(layer: 1) == 8)
    let qwenAllFull = try parseConfig(
        llamaConfigJSON(#""use_sliding_window": true, "sliding_window": 8, "max_window_layers": 2"#, modelType: "qwen2"))
    #expect(qwenAllFull.slidingWindow == nil && qwenAllFull.layerTypes == nil)
    let qwenTypes = try parseConfig(
        llamaConfigJSON(
            #""use_sliding_window": true, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]"#, modelType: "qwen3"))
    #expect(qwenTypes.attentionWindow(layer: 0) == 8 && qwenTypes.attentionWindow(layer: 1) == nil)
    let qwen2 = try parseConfig(llamaConfigJSON(#""tie_word_embeddings": true"#, modelType: "qwen2"))
    #expect(qwen2.architecture == .qwen2 && qwen2.attentionBias && !qwen2.qkNorm && qwen2.tieWordEmbeddings)
    let qwen3 = try parseConfig(llamaConfigJSON(#""head_dim": 16, "attention_bias": false"#, modelType: "qwen3"))
    #expect(qwen3.architecture == .qwen3 && qwen3.qkNorm && !qwen3.attentionBias && qwen3.headDim == 16)
    let biased = try parseConfig(llamaConfigJSON(#""attention_bias": true"#))
    #expect(biased.attentionBias)
}

@Test func configErrorsNameTheKey() throws {
    expectModelError("model_type gemma is not supported", "key model_type", kind: .unsupported) {
        _ = try parseConfig(llamaConfigJSON(modelType: "gemma"))
    }
    expectModelError("required key hidden_size is missing", kind: .missing) {
        _ = try parseConfig(llamaConfigJSON().replacingOccurrences(of: #""hidden_size": 32,"#, with: ""))
    }
    expectModelError("hidden_size must be an integer, found a string", "key hidden_size") {
        _ = try parseConfig(llamaConfigJSON().replacingOccurrences(of: #""hidden_size": 32"#, with: #""hidden_size": "32""#))
    }
    expectModelError("rope type yarn is not supported", "rope_parameters.rope_type") {
        _ = try parseConfig(llamaConfigJSON(#""rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e6}"#))
    }
    expectModelError("required key rope_scaling.low_freq_factor is missing") {
        _ = try parseConfig(llamaConfigJSON(#""rope_scaling": {"rope_type": "llama3", "factor": 8.0}"#))
    }
    expectModelError("eos_token_id must be an integer or a list of integers") {
        _ = try parseConfig(llamaConfigJSON().replacingOccurrences(of: #""eos_token_id": 2"#, with: #""eos_token_id": "2""#))
    }
    expectModelError("invalid JSON", kind: .malformed) { _ = try parseConfig(#"{"model_type": "llama", "#) }
    expectModelError("mlp_bias true is not supported") { _ = try parseConfig(llamaConfigJSON(#""mlp_bias": true"#)) }
}

// MARK: - Gemma

@Test func gemma2ConfigReadsItsSettingsAndDefaults() throws {
    let explicit = try parseConfig(
        llamaConfigJSON(
            #""hidden_activation": "gelu_pytorch_tanh", "head_dim": 16, "query_pre_attn_scalar": 24, "attn_logit_softcapping": 50.0, "final_logit_softcapping": null, "sliding_window": 4096"#,
            modelType: "gemma2"))
    #expect(explicit.architecture == .gemma2 && explicit.hiddenAct == "gelu_pytorch_tanh" && explicit.headDim == 16)
    #expect(explicit.queryPreAttnScalar == 24 && explicit.attnLogitSoftcapping == 50 && explicit.finalLogitSoftcapping == nil)
    #expect(explicit.tieWordEmbeddings && explicit.isGemma && explicit.embeddingScale == Float(Double(32).squareRoot()))
    #expect(explicit.requiredTensors.contains { $0.name == "model.layers.1.post_feedforward_layernorm.weight" })
    try explicit.validate()
    // Absent keys take Gemma2Config's defaults (query_pre_attn_scalar 256, caps 50 and 30).
    let defaults = try parseConfig(llamaConfigJSON(#""hidden_activation": "gelu_pytorch_tanh""#, modelType: "gemma2"))
    #expect(defaults.queryPreAttnScalar == 256 && defaults.attnLogitSoftcapping == 50 && defaults.finalLogitSoftcapping == 30)
}

@Test func unsupportedGemmaVariantsAreNamed() throws {
    expectModelError("model_type gemma3 (the multimodal", "key model_type", kind: .unsupported) {
        _ = try parseConfig(llamaConfigJSON(modelType: "gemma3"))
    }
    expectModelError("use_bidirectional_attention true is not supported", "key use_bidirectional_attention", kind: .unsupported) {
        _ = try parseConfig(llamaConfigJSON(#""use_bidirectional_attention": true"#, modelType: "gemma2"))
    }
    // Gemma with another activation parses but does not validate (convert refuses it, naming the field).
    let silu = try parseConfig(llamaConfigJSON(modelType: "gemma2"))
    #expect(throws: ConfigError.self) { try silu.validate() }
    do { try silu.validate() } catch { #expect("\(error)".contains("hidden_act silu is not supported for gemma2")) }
}
