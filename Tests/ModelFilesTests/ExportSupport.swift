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

/// A tiny model for the export tests: TestSupport's TinyShape (fields read through: `m.headDim`) at D 64,
/// Dh 16, F 96, with a small byte-level tokenizer and a chat template.
@dynamicMemberLookup
struct TinyModel: Sendable, CustomStringConvertible {
    var name: String
    var shape: TinyShape
    var addBos = false

    /// D 64, H 4 (2 kv) of 16, F 96, L 2, the vocabulary below, PAD 2; rms_norm_eps 2^-10 and theta 10000
    /// survive GGUF's f32 keys exactly, so configs compare equal.
    init(name: String, addBos: Bool = false, _ adjust: (inout TinyShape) -> Void = { _ in }) {
        var s = TinyShape(
            dim: 64, headDim: 16, ffn: 96, vocab: Self.vocab.count, rmsNormEps: 1.0 / 1024, maxPositions: 128, padTokenId: 2)
        adjust(&s)
        self.name = name
        self.shape = s
        self.addBos = addBos
    }

    var description: String { name }

    subscript<T>(dynamicMember path: KeyPath<TinyShape, T>) -> T { shape[keyPath: path] }

    static let llama = TinyModel(name: "llama")
    static let llama3Untied = TinyModel(name: "llama3-untied", addBos: true) {
        ($0.heads, $0.kvHeads, $0.headDim, $0.tied) = (2, 1, 32, false)
        $0.ropeScaling = RopeScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64)
    }
    static let llamaLinear = TinyModel(name: "llama-linear-bias") {
        $0.bias = true
        $0.ropeScaling = RopeScaling(ropeType: "linear", factor: 2)
    }
    static let qwen2 = TinyModel(name: "qwen2") { ($0.architecture, $0.bias) = (.qwen2, true) }
    static let qwen3 = TinyModel(name: "qwen3") { ($0.architecture, $0.headDim) = (.qwen3, 32) }
    static let all: [TinyModel] = [.llama, .llama3Untied, .llamaLinear, .qwen2, .qwen3]

    /// Qwen2 always has q/k/v biases and Qwen3 q/k norms, as their configs do.
    var config: ModelConfig {
        var s = shape
        s.bias = s.bias || s.architecture == .qwen2
        s.qkNorm = s.architecture == .qwen3 || s.architecture == .gemma3
        return s.config
    }

    static let vocab: [String] =
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool>"] + (0..<26).map { String(UnicodeScalar(UInt8(97 + $0))) }
        + ["Ġ", "Ċ", "Ġa", "ab", "Ġab", "é", "\"q\"", "\\", "1", "2"]
    static let merges = ["Ġ a", "a b", "Ġa b"]
    static let template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m[\"content\"] }}<|im_end|>\n{% endfor %}\t\\ é"

    var tokenizer: TokenizerData {
        TokenizerData(
            preTokenizer: shape.architecture == .llama ? (shape.tied ? "smollm" : "llama3") : (shape.architecture == .qwen2 ? "qwen2" : "gpt2"),
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
        try TinyModelFile.write(path: path, metadata: metadata, tensors: values, dtype: dtype)
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
