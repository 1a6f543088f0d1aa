// Helpers for the export tests: tiny random models of each architecture written as MTF files with a
// small byte-level tokenizer and a chat template, and a transform that marks tensors so a test can tell
// the exporter wrote exactly what the source produced.

import Foundation
import ModelFiles
import SeededRandom
import TensorFile
import TestSupport
import Testing

// MARK: - Tiny models

struct TinyModel: Sendable, CustomStringConvertible {
    var name: String
    var architecture: ModelConfig.Architecture = .llama
    var dim = 64
    var heads = 4
    var kvHeads = 2
    var headDim = 16
    var ffn = 96
    var layers = 2
    var tied = true
    var bias = false
    var ropeScaling: RopeScaling? = nil
    var addBos = false

    var description: String { name }

    static let llama = TinyModel(name: "llama")
    static let llama3Untied = TinyModel(
        name: "llama3-untied", heads: 2, kvHeads: 1, headDim: 32, tied: false,
        ropeScaling: RopeScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64),
        addBos: true)
    static let llamaLinear = TinyModel(name: "llama-linear-bias", bias: true, ropeScaling: RopeScaling(ropeType: "linear", factor: 2))
    static let qwen2 = TinyModel(name: "qwen2", architecture: .qwen2, bias: true)
    static let qwen3 = TinyModel(name: "qwen3", architecture: .qwen3, headDim: 32)
    static let all: [TinyModel] = [.llama, .llama3Untied, .llamaLinear, .qwen2, .qwen3]

    /// rms_norm_eps 2^-10 and theta 10000 survive GGUF's f32 keys exactly, so configs compare equal.
    var config: ModelConfig {
        ModelConfig(
            architecture: architecture, hiddenSize: dim, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
            numKeyValueHeads: kvHeads, headDim: headDim, rmsNormEps: 1.0 / 1024, ropeTheta: 10_000, ropeScaling: ropeScaling,
            maxPositionEmbeddings: 128, vocabSize: Self.vocab.count, tieWordEmbeddings: tied,
            attentionBias: bias || architecture == .qwen2, qkNorm: architecture == .qwen3, bosTokenId: 1, eosTokenIds: [2],
            padTokenId: 2)
    }

    static let vocab: [String] =
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"] + (0..<26).map { String(UnicodeScalar(UInt8(97 + $0))) }
        + ["Ġ", "Ċ", "Ġa", "ab", "Ġab", "é", "\"q\"", "\\", "1", "2"]
    static let merges = ["Ġ a", "a b", "Ġa b"]
    static let template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m[\"content\"] }}<|im_end|>\n{% endfor %}\t\\ é"

    var tokenizer: TokenizerData {
        TokenizerData(
            preTokenizer: architecture == .llama ? (tied ? "smollm" : "llama3") : (architecture == .qwen2 ? "qwen2" : "gpt2"),
            vocab: Self.vocab, merges: Self.merges,
            addedTokens: [
                AddedToken(id: 0, content: "<|endoftext|>"), AddedToken(id: 1, content: "<|im_start|>"),
                AddedToken(id: 2, content: "<|im_end|>"), AddedToken(id: 3, content: "<tool>", special: false, lstrip: true),
            ], bosToken: "<|im_start|>", eosToken: "<|im_end|>", padToken: "<|im_end|>", unkToken: "<|endoftext|>",
            addBosToken: addBos)
    }

    var metadata: MTFMetadata {
        MTFMetadata(
            config: config, tokenizer: tokenizer, chatTemplate: Self.template,
            provenance: Provenance(
                sourceFormat: "test", sourceName: "tiny-\(name).mtf", sourceXxh64: "0000000000000000", converter: "ExportTests",
                converterVersion: "1"))
    }

    /// Random values for every tensor the config needs (norms near 1).
    func values(seed: UInt64 = 1) -> [String: [Float]] {
        var rng = SplitMix64(seed: seed)
        var out: [String: [Float]] = [:]
        for t in config.requiredTensors {
            let n = t.shape.reduce(1, *)
            out[t.name] = t.name.hasSuffix("norm.weight") ? (0..<n).map { _ in 1 + 0.2 * rng.float() } : (0..<n).map { _ in 0.3 * rng.float() }
        }
        return out
    }

    /// Writes the model to `path` (matrices in `dtype`, norms and biases f32).
    func write(to path: String, dtype: DType = .f32, seed: UInt64 = 1) throws -> [String: [Float]] {
        let values = values(seed: seed)
        let specs = config.requiredTensors.map { TensorSpec(name: $0.name, dtype: $0.shape.count == 2 ? dtype : .f32, shape: $0.shape) }
        let w = try MTFWriter(path: path, metadata: metadata, tensors: specs)
        for s in specs { try w.write(name: s.name, floats: values[s.name]!) }
        try w.finish()
        return values
    }
}

// MARK: - Transforms

/// Adds (index mod 7) · 0.01 to every element of the projections of layer 0, so exported values differ
/// from the base where a merge would change them.
func markLayer0(_ name: String, _ values: UnsafeMutableBufferPointer<Float>) {
    guard name.hasPrefix("model.layers.0.") && name.hasSuffix("_proj.weight") else { return }
    for i in 0..<values.count { values[i] += Float(i % 7) * 0.01 }
}

/// `values` after `markLayer0`.
func marked(_ values: [String: [Float]]) throws -> [String: [Float]] {
    var out = values
    for (name, v) in values {
        var copy = v
        copy.withUnsafeMutableBufferPointer { markLayer0(name, $0) }
        out[name] = copy
    }
    return out
}

/// Rounds values through a float dtype (what an f16/bf16 export stores).
func rounded(_ v: [Float], _ d: DType) -> [Float] {
    var bytes = [UInt8](repeating: 0, count: v.count * d.blockBytes)
    var out = [Float](repeating: 0, count: v.count)
    v.withUnsafeBufferPointer { src in bytes.withUnsafeMutableBytes { d.encode(src.baseAddress!, into: $0.baseAddress!, count: v.count) } }
    bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { d.decode(src.baseAddress!, into: $0.baseAddress!, count: v.count) } }
    return out
}

/// Names in a directory (for "nothing partial left behind").
func listing(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}
