// Test support: tiny random models written as MTF files, transformers fixture directories (config.json +
// model.safetensors) converted to MTF, and the fixture JSON. Every ModelTests test runs serialized under
// the `ModelTests` suite because the kernels' thread settings are process-wide.

import Foundation
import Model
import ModelFiles
import SeededRandom
import TensorFile
import TestSupport
import Testing

@Suite(.serialized) struct ModelTests {}

// MARK: - Tiny random models

/// A tiny test model: its shape (TestSupport's TinyShape, whose fields read through: `spec.layers`), a
/// name for its file, and the dtype of its matrices.
@dynamicMemberLookup
struct TinySpec: Sendable, CustomStringConvertible {
    var name: String
    var shape = TinyShape()
    var dtype: DType = .f32

    var description: String { name }
    var config: ModelConfig { shape.config }

    subscript<T>(dynamicMember path: WritableKeyPath<TinyShape, T>) -> T {
        get { shape[keyPath: path] }
        set { shape[keyPath: path] = newValue }
    }

    static let llama = TinySpec(name: "llama")
    static let llamaUntiedScaled = TinySpec(
        name: "llama3-untied",
        shape: TinyShape(
            tied: false,
            ropeScaling: RopeScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8)))
    static let qwen2 = TinySpec(name: "qwen2", shape: TinyShape(architecture: .qwen2, bias: true))
    static let qwen3 = TinySpec(name: "qwen3", shape: TinyShape(architecture: .qwen3, headDim: 8, qkNorm: true))
    /// Gemma 2: four (1 + w) norms per layer, GeGLU, √D embeddings, query_pre_attn_scalar ≠ head_dim, caps small
    /// enough that tanh is far from linear.
    static let gemma2: TinySpec = {
        var s = TinySpec(name: "gemma2", shape: TinyShape(architecture: .gemma2, headDim: 8))
        s.queryPreAttnScalar = 6
        s.attnLogitSoftcapping = 1.5
        s.finalLogitSoftcapping = 4
        // Layer 0 slides with a window shorter than the sequences (5, 9, 12), layer 1 is global.
        s.layerTypes = ["sliding_attention", "full_attention"]
        s.slidingWindow = 3
        return s
    }()
    /// Gemma 3: q/k norms (1 + w), no caps, the sliding layer's RoPE at another base than the global layer's
    /// (which is linearly scaled).
    static let gemma3: TinySpec = {
        var s = TinySpec(
            name: "gemma3",
            shape: TinyShape(architecture: .gemma3, headDim: 8, qkNorm: true, ropeScaling: RopeScaling(ropeType: "linear", factor: 4)))
        s.queryPreAttnScalar = 6
        s.ropeLocalBaseFreq = 100
        s.layerTypes = ["sliding_attention", "full_attention"]
        s.slidingWindow = 3
        return s
    }()
    /// Windows shorter than the gradient tests' sequences (9, 5, 12): every layer (Mistral), or the second only.
    static let mistral: TinySpec = {
        var s = TinySpec(name: "mistral-window3", shape: TinyShape(architecture: .mistral))
        s.slidingWindow = 3
        return s
    }()
    /// Phi-3: fused qkv_proj and gate_up_proj (row views of one weight each, one shared LoRA A per fused module),
    /// untied, a window of 3 on every layer.
    static let phi3: TinySpec = {
        var s = TinySpec(name: "phi3-window3", shape: TinyShape(architecture: .phi3, tied: false))
        s.slidingWindow = 3
        return s
    }()
    /// Phi-3 with LongRoPE: original length 8, so passes longer than 8 tokens use the long factors (f32-exact
    /// values, so GGUF's f32 tensors carry them unchanged); the factor is 256 / 8, the attention factor given (1.125:
    /// the derived 1.53 sharpens attention enough that the gradient check's eps 1e-2 truncation error exceeds its
    /// tolerance, while eps 1e-3 agrees to 4e-4 relative).
    static let phi3LongRope: TinySpec = {
        var s = TinySpec(
            name: "phi3-longrope",
            shape: TinyShape(
                architecture: .phi3, tied: false,
                ropeScaling: RopeScaling(
                    ropeType: "longrope", factor: 32, originalMaxPositionEmbeddings: 8, shortFactor: [1, 1.5], longFactor: [2, 6.5],
                    attentionFactor: 1.125)))
        s.slidingWindow = 5
        return s
    }()
    static let qwen2SlidingLayer: TinySpec = {
        var s = TinySpec(name: "qwen2-window4-layer1", shape: TinyShape(architecture: .qwen2, bias: true))
        s.slidingWindow = 4
        s.layerTypes = ["full_attention", "sliding_attention"]
        return s
    }()
}

/// Writes `tensors` (name → f32 values) as an MTF with a placeholder tokenizer, every matrix in `dtype`.
func writeMTF(path: String, config: ModelConfig, tensors: [String: [Float]], dtype: DType = .f32, source: String) throws {
    try TinyModelFile.write(
        path: path, metadata: TinyModelFile.metadata(config, source: source, converter: "ModelTests"), tensors: tensors, dtype: dtype)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A tiny model with random weights (TinyModelFile.randomWeights), written to a temp MTF.
func makeTinyModel(_ spec: TinySpec, seed: UInt64 = 1) throws -> (model: LlamaModel, path: String) {
    let dir = TestPaths.temporaryDirectory("leandpo-model")
    let path = dir + "/tiny-\(spec.name).mtf"
    try writeMTF(
        path: path, config: spec.config, tensors: TinyModelFile.randomWeights(spec.config, seed: seed), dtype: spec.dtype,
        source: "random-\(spec.name)")
    return (try LlamaModel(path: path, threads: 2), path)
}

/// Token sequences of the given lengths, uniform over the tiny models' vocabulary (37), seeded.
func randomSequences(seed: UInt64, lengths: [Int], vocab: UInt64 = 37) -> [[Int32]] {
    var rng = Xoshiro256(seed: seed)
    return lengths.map { n in (0..<n).map { _ in Int32(rng.next() % vocab) } }
}

/// A LoRA adapter with random A AND random B (so it changes the model and every gradient is nonzero).
func makeAdapter(_ model: LlamaModel, r: Int = 2, alpha: Double = 4, rslora: Bool = false, dropout: Double = 0, seed: UInt64 = 7)
    throws -> LoRAAdapter
{
    let adapter = try LoRAAdapter(
        config: LoRAConfig(r: r, alpha: alpha, rslora: rslora, dropout: dropout), modelConfig: model.config, seed: seed)
    var rng = Xoshiro256(seed: seed &+ 99)
    for e in adapter.entries {
        let b = adapter.b(e)
        for i in 0..<(e.outFeatures * r) { b[i] = 0.3 * (2 * rng.nextUnitFloat() - 1) }
    }
    return adapter
}

// MARK: - Fixtures

func fixturesDirectory() throws -> URL {
    guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { throw TestFailure("no Fixtures resource") }
    return url
}

func readJSON(_ url: URL) throws -> [String: Any] {
    let data = try Data(contentsOf: url)
    guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TestFailure("\(url.path): not an object") }
    return obj
}

/// Reads an f32/f16/bf16 safetensors file into name → (shape, values), with ModelFiles' reader.
func readSafetensors(_ url: URL) throws -> [String: (shape: [Int], values: [Float])] {
    let file = try SafetensorsFile(path: url.path)
    var out: [String: (shape: [Int], values: [Float])] = [:]
    for t in file.tensors {
        var values = [Float](repeating: 0, count: t.elementCount)
        if !values.isEmpty { try values.withUnsafeMutableBufferPointer { try file.readFloats(t, into: $0.baseAddress!) } }
        out[t.name] = (t.shape, values)
    }
    return out
}

/// A transformers config.json (4.x top-level rope fields or 5.x rope_parameters) as a ModelConfig.
func modelConfig(hfConfig c: [String: Any]) throws -> ModelConfig {
    func int(_ k: String) throws -> Int {
        guard let v = c[k] as? Int else { throw TestFailure("config.json: \(k)") }
        return v
    }
    let type = c["model_type"] as? String ?? "llama"
    let arch: ModelConfig.Architecture =
        switch type {
        case "qwen2": .qwen2
        case "qwen3": .qwen3
        case "gemma2": .gemma2
        case "gemma3_text": .gemma3
        case "mistral": .mistral
        default: .llama
        }
    let gemma = arch == .gemma2 || arch == .gemma3
    let rope = (c["rope_parameters"] as? [String: Any]) ?? (c["rope_scaling"] as? [String: Any]) ?? [:]
    let theta = (rope["rope_theta"] as? Double) ?? (c["rope_theta"] as? Double) ?? 10_000
    var scaling: RopeScaling? = nil
    if let t = (rope["rope_type"] as? String) ?? (rope["type"] as? String), t != "default" {
        scaling = RopeScaling(
            ropeType: t, factor: rope["factor"] as? Double ?? 1, lowFreqFactor: rope["low_freq_factor"] as? Double,
            highFreqFactor: rope["high_freq_factor"] as? Double,
            originalMaxPositionEmbeddings: rope["original_max_position_embeddings"] as? Int)
    }
    func number(_ k: String) -> Double? { (c[k] as? Double) ?? (c[k] as? Int).map(Double.init) }
    let heads = try int("num_attention_heads"), hidden = try int("hidden_size")
    let eos: [Int] = (c["eos_token_id"] as? [Int]) ?? ((c["eos_token_id"] as? Int).map { [$0] } ?? [])
    return ModelConfig(
        architecture: arch, hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
        numHiddenLayers: try int("num_hidden_layers"), numAttentionHeads: heads,
        numKeyValueHeads: (c["num_key_value_heads"] as? Int) ?? heads, headDim: (c["head_dim"] as? Int) ?? hidden / heads,
        rmsNormEps: c["rms_norm_eps"] as? Double ?? 1e-6, ropeTheta: theta, ropeScaling: scaling,
        maxPositionEmbeddings: try int("max_position_embeddings"), vocabSize: try int("vocab_size"),
        tieWordEmbeddings: c["tie_word_embeddings"] as? Bool ?? false,
        attentionBias: arch == .qwen2 || (c["attention_bias"] as? Bool ?? false), qkNorm: arch == .qwen3,
        hiddenAct: gemma ? c["hidden_activation"] as? String ?? "gelu_pytorch_tanh" : "silu",
        bosTokenId: c["bos_token_id"] as? Int, eosTokenIds: eos,
        slidingWindow: arch == .mistral ? c["sliding_window"] as? Int : nil, queryPreAttnScalar: gemma ? number("query_pre_attn_scalar") : nil,
        attnLogitSoftcapping: gemma ? number("attn_logit_softcapping") : nil,
        finalLogitSoftcapping: gemma ? number("final_logit_softcapping") : nil)
}

/// Converts a transformers directory (config.json + model.safetensors) into an MTF in a temp directory.
func convertFixture(_ dir: URL) throws -> String {
    let json = try readJSON(dir.appendingPathComponent("config.json"))
    var config = try modelConfig(hfConfig: json)
    if (json["model_type"] as? String)?.hasPrefix("gemma") == true || json["model_type"] as? String == "phi3" {
        // Gemma's settings (caps, scale, layer types, two rope bases), Phi-3's fused layout and LongRoPE, as the
        // converter reads them.
        var notes: [String] = []
        let path = dir.appendingPathComponent("config.json").path
        config = try HFConfig.modelConfig(path: path, notes: &notes)
    }
    let tensors = try readSafetensors(dir.appendingPathComponent("model.safetensors")).mapValues(\.values)
    let path = TestPaths.temporaryDirectory("leandpo-fixture") + "/\(dir.lastPathComponent).mtf"
    try writeMTF(path: path, config: config, tensors: tensors, source: dir.lastPathComponent)
    return path
}
