// Test support: tiny random models written as MTF files, transformers fixture directories (config.json +
// model.safetensors) converted to MTF, and the fixture JSON. Every ModelTests test runs serialized under
// the `ModelTests` suite because the kernels' thread settings are process-wide.

import Foundation
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing

@Suite(.serialized) struct ModelTests {}

// MARK: - Tiny random models

/// The shape and flavour of a tiny test model.
struct TinySpec: Sendable, CustomStringConvertible {
    var name: String
    var architecture: ModelConfig.Architecture = .llama
    var dim = 16
    var heads = 4
    var kvHeads = 2
    var headDim = 4
    var ffn = 24
    var vocab = 37
    var layers = 2
    var tied = true
    var bias = false
    var qkNorm = false
    var ropeScaling: RopeScaling? = nil
    var ropeTheta = 10_000.0
    var dtype: DType = .f32

    var description: String { name }

    static let llama = TinySpec(name: "llama")
    static let llamaUntiedScaled = TinySpec(
        name: "llama3-untied", tied: false,
        ropeScaling: RopeScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8))
    static let qwen2 = TinySpec(name: "qwen2", architecture: .qwen2, bias: true)
    static let qwen3 = TinySpec(name: "qwen3", architecture: .qwen3, headDim: 8, qkNorm: true)

    var config: ModelConfig {
        ModelConfig(
            architecture: architecture, hiddenSize: dim, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
            numKeyValueHeads: kvHeads, headDim: headDim, rmsNormEps: 1e-6, ropeTheta: ropeTheta, ropeScaling: ropeScaling,
            maxPositionEmbeddings: 256, vocabSize: vocab, tieWordEmbeddings: tied, attentionBias: bias, qkNorm: qkNorm,
            bosTokenId: 1, eosTokenIds: [2])
    }
}

/// Metadata with a placeholder tokenizer (the model tests feed token ids directly).
func testMetadata(_ config: ModelConfig, source: String) -> MTFMetadata {
    MTFMetadata(
        config: config,
        tokenizer: TokenizerData(preTokenizer: "gpt2", vocab: (0..<config.vocabSize).map { "t\($0)" }, merges: [], addedTokens: []),
        chatTemplate: nil,
        provenance: Provenance(
            sourceFormat: "test", sourceName: source, sourceXxh64: "0000000000000000", converter: "ModelTests", converterVersion: "1"))
}

/// Writes `tensors` (name → f32 values) as an MTF with every tensor in `dtype` (norms and biases f32).
func writeMTF(path: String, config: ModelConfig, tensors: [String: [Float]], dtype: DType = .f32, source: String) throws {
    let required = config.requiredTensors
    let specs = required.map { t in
        TensorSpec(name: t.name, dtype: t.shape.count == 2 ? dtype : .f32, shape: t.shape)
    }
    let writer = try MTFWriter(path: path, metadata: testMetadata(config, source: source), tensors: specs)
    for t in required {
        guard let values = tensors[t.name] else { throw TestFailure("tensor \(t.name) missing") }
        try writer.write(name: t.name, floats: values)
    }
    try writer.finish()
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A tiny model with random weights (uniform, scaled so activations are O(1)), written to a temp MTF.
func makeTinyModel(_ spec: TinySpec, seed: UInt64 = 1) throws -> (model: LlamaModel, path: String) {
    var rng = Xoshiro256(seed: seed)
    func uniform(_ n: Int, _ scale: Float, center: Float = 0) -> [Float] {
        (0..<n).map { _ in center + scale * (2 * rng.nextUnitFloat() - 1) }
    }
    let config = spec.config
    var tensors: [String: [Float]] = [:]
    for t in config.requiredTensors {
        let n = t.shape.reduce(1, *)
        if t.name.hasSuffix("norm.weight") {
            tensors[t.name] = uniform(n, 0.2, center: 1)
        } else if t.name.hasSuffix(".bias") {
            tensors[t.name] = uniform(n, 0.3)
        } else if t.name.contains("embed_tokens") || t.name.contains("lm_head") {
            tensors[t.name] = uniform(n, 1)
        } else {
            tensors[t.name] = uniform(n, Float(1.7 / Double(t.shape[1]).squareRoot()))
        }
    }
    let dir = TestPaths.temporaryDirectory("leandpo-model")
    let path = dir + "/tiny-\(spec.name).mtf"
    try writeMTF(path: path, config: config, tensors: tensors, dtype: spec.dtype, source: "random-\(spec.name)")
    return (try LlamaModel(path: path, threads: 2), path)
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
        default: .llama
        }
    let rope = (c["rope_parameters"] as? [String: Any]) ?? (c["rope_scaling"] as? [String: Any]) ?? [:]
    let theta = (rope["rope_theta"] as? Double) ?? (c["rope_theta"] as? Double) ?? 10_000
    var scaling: RopeScaling? = nil
    if let t = (rope["rope_type"] as? String) ?? (rope["type"] as? String), t != "default" {
        scaling = RopeScaling(
            ropeType: t, factor: rope["factor"] as? Double ?? 1, lowFreqFactor: rope["low_freq_factor"] as? Double,
            highFreqFactor: rope["high_freq_factor"] as? Double,
            originalMaxPositionEmbeddings: rope["original_max_position_embeddings"] as? Int)
    }
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
        bosTokenId: c["bos_token_id"] as? Int, eosTokenIds: eos)
}

/// Converts a transformers directory (config.json + model.safetensors) into an MTF in a temp directory.
func convertFixture(_ dir: URL) throws -> String {
    let config = try modelConfig(hfConfig: readJSON(dir.appendingPathComponent("config.json")))
    let tensors = try readSafetensors(dir.appendingPathComponent("model.safetensors")).mapValues(\.values)
    let path = TestPaths.temporaryDirectory("leandpo-fixture") + "/\(dir.lastPathComponent).mtf"
    try writeMTF(path: path, config: config, tensors: tensors, source: dir.lastPathComponent)
    return path
}
