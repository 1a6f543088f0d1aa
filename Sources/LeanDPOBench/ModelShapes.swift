// `leandpo-bench make-shape`: a model with a named real architecture's shapes and seeded random weights,
// written straight to MTF in any dtype through the converter (one tensor in memory at a time, so the 8B
// shape needs about its largest tensor, not the model). The tokenizer is SmolLM2's (a real byte-level
// BPE), its vocabulary padded with unused tokens up to the shape's vocabulary. Quality is meaningless;
// shapes, dtypes and the code path are real.

import ArgumentParser
import Foundation
import Model
import SeededRandom
import ModelFiles
import TensorFile

/// The published configurations (config.json of each model) that matter for speed and memory.
struct ModelShape: Sendable {
    let name: String
    let architecture: ModelConfig.Architecture
    let hidden, ffn, layers, heads, kvHeads, vocab: Int
    let tied: Bool
    let ropeTheta: Double
    var attentionBias = false

    static let all: [ModelShape] = [
        ModelShape(
            name: "smollm2-135m", architecture: .llama, hidden: 576, ffn: 1536, layers: 30, heads: 9, kvHeads: 3, vocab: 49152, tied: true,
            ropeTheta: 100_000),
        ModelShape(
            name: "smollm2-360m", architecture: .llama, hidden: 960, ffn: 2560, layers: 32, heads: 15, kvHeads: 5, vocab: 49152, tied: true,
            ropeTheta: 100_000),
        ModelShape(
            name: "smollm2-1.7b", architecture: .llama, hidden: 2048, ffn: 8192, layers: 24, heads: 32, kvHeads: 32, vocab: 49152, tied: true,
            ropeTheta: 130_000),
        ModelShape(
            name: "qwen2.5-0.5b", architecture: .qwen2, hidden: 896, ffn: 4864, layers: 24, heads: 14, kvHeads: 2, vocab: 151_936, tied: true,
            ropeTheta: 1_000_000, attentionBias: true),
        ModelShape(
            name: "qwen2.5-1.5b", architecture: .qwen2, hidden: 1536, ffn: 8960, layers: 28, heads: 12, kvHeads: 2, vocab: 151_936, tied: true,
            ropeTheta: 1_000_000, attentionBias: true),
        ModelShape(
            name: "qwen2.5-3b", architecture: .qwen2, hidden: 2048, ffn: 11008, layers: 36, heads: 16, kvHeads: 2, vocab: 151_936, tied: true,
            ropeTheta: 1_000_000, attentionBias: true),
        ModelShape(
            name: "llama-3.2-1b", architecture: .llama, hidden: 2048, ffn: 8192, layers: 16, heads: 32, kvHeads: 8, vocab: 128_256, tied: true,
            ropeTheta: 500_000),
        ModelShape(
            name: "llama-3.2-3b", architecture: .llama, hidden: 3072, ffn: 8192, layers: 28, heads: 24, kvHeads: 8, vocab: 128_256, tied: true,
            ropeTheta: 500_000),
        // Phi-3-mini (Phi-3.5-mini has the same shapes): fused qkv_proj and gate_up_proj, untied.
        ModelShape(
            name: "phi-3-mini", architecture: .phi3, hidden: 3072, ffn: 8192, layers: 32, heads: 32, kvHeads: 32, vocab: 32064, tied: false,
            ropeTheta: 10_000),
        ModelShape(
            name: "llama-3.1-8b", architecture: .llama, hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 128_256, tied: false,
            ropeTheta: 500_000),
    ]

    var config: ModelConfig {
        ModelConfig(
            architecture: architecture, hiddenSize: hidden, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
            numKeyValueHeads: kvHeads, rmsNormEps: 1e-5, ropeTheta: ropeTheta, maxPositionEmbeddings: 8192, vocabSize: vocab,
            tieWordEmbeddings: tied, attentionBias: attentionBias, bosTokenId: 1, eosTokenIds: [2])
    }

    /// Hugging Face names and shapes, in the order the converter writes them.
    var tensors: [SourceTensor] {
        let headDim = hidden / heads
        var out = [SourceTensor(name: "model.embed_tokens.weight", shape: [vocab, hidden], sourceDType: "random")]
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            out.append(SourceTensor(name: p + "input_layernorm.weight", shape: [hidden], sourceDType: "ones"))
            if architecture == .phi3 {
                out.append(
                    SourceTensor(name: p + "self_attn.qkv_proj.weight", shape: [(heads + 2 * kvHeads) * headDim, hidden], sourceDType: "random"))
                out.append(SourceTensor(name: p + "self_attn.o_proj.weight", shape: [hidden, heads * headDim], sourceDType: "random"))
                out.append(SourceTensor(name: p + "post_attention_layernorm.weight", shape: [hidden], sourceDType: "ones"))
                out.append(SourceTensor(name: p + "mlp.gate_up_proj.weight", shape: [2 * ffn, hidden], sourceDType: "random"))
                out.append(SourceTensor(name: p + "mlp.down_proj.weight", shape: [hidden, ffn], sourceDType: "random"))
                continue
            }
            out.append(SourceTensor(name: p + "self_attn.q_proj.weight", shape: [heads * headDim, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "self_attn.k_proj.weight", shape: [kvHeads * headDim, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "self_attn.v_proj.weight", shape: [kvHeads * headDim, hidden], sourceDType: "random"))
            if attentionBias {
                out.append(SourceTensor(name: p + "self_attn.q_proj.bias", shape: [heads * headDim], sourceDType: "random"))
                out.append(SourceTensor(name: p + "self_attn.k_proj.bias", shape: [kvHeads * headDim], sourceDType: "random"))
                out.append(SourceTensor(name: p + "self_attn.v_proj.bias", shape: [kvHeads * headDim], sourceDType: "random"))
            }
            out.append(SourceTensor(name: p + "self_attn.o_proj.weight", shape: [hidden, heads * headDim], sourceDType: "random"))
            out.append(SourceTensor(name: p + "post_attention_layernorm.weight", shape: [hidden], sourceDType: "ones"))
            out.append(SourceTensor(name: p + "mlp.gate_proj.weight", shape: [ffn, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "mlp.up_proj.weight", shape: [ffn, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "mlp.down_proj.weight", shape: [hidden, ffn], sourceDType: "random"))
        }
        out.append(SourceTensor(name: "model.norm.weight", shape: [hidden], sourceDType: "ones"))
        if !tied { out.append(SourceTensor(name: "lm_head.weight", shape: [vocab, hidden], sourceDType: "random")) }
        return out
    }

    var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
}

/// The shape as a converter source: seeded uniform weights with the std of a 0.02 normal, norms of ones.
struct RandomModelSource: ModelSource {
    let shape: ModelShape
    let metadata: MTFMetadata
    let tensors: [SourceTensor]
    let seed: UInt64

    init(shape: ModelShape, tokenizerFrom base: MTFMetadata, seed: UInt64) {
        self.shape = shape
        self.seed = seed
        var tokenizer = base.tokenizer
        let realVocab = tokenizer.vocab.count + tokenizer.addedTokens.filter { $0.id >= tokenizer.vocab.count }.count
        for i in realVocab..<max(realVocab, shape.vocab) { tokenizer.vocab.append("<|unused_\(i)|>") }
        metadata = MTFMetadata(
            config: shape.config, tokenizer: tokenizer, chatTemplate: base.chatTemplate,
            provenance: Provenance(
                sourceFormat: "random", sourceName: "shape:\(shape.name)", sourceXxh64: String(seed, radix: 16),
                converter: "leandpo-bench make-shape",
                converterVersion: "1"))
        tensors = shape.tensors
    }

    func load(_ t: SourceTensor, into out: UnsafeMutablePointer<Float>) throws {
        let n = t.elementCount
        if t.sourceDType == "ones" {
            out.update(repeating: 1, count: n)
            return
        }
        // Each tensor has its own stream (seed ⊕ hash of its name), so tensors do not depend on the order.
        var h: UInt64 = seed
        for b in t.name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        let a: Float = 0.02 * 3.0.squareRoot().float
        var rng = SplitMix64(seed: h)
        for i in 0..<n { out[i] = a * (2 * Float(rng.next() >> 40) / Float(1 << 24) - 1) }
    }
}

extension Double {
    fileprivate var float: Float { Float(self) }
}

struct MakeShape: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-shape", abstract: "Write a model of a real architecture's shapes with random weights (MTF).",
        discussion: "Shapes: " + ModelShape.all.map(\.name).joined(separator: ", "))

    @Option(help: "The shape's name.") var shape: String
    @Option(help: "A SmolLM2 MTF file whose tokenizer and chat template are used.") var tokenizerFrom: String
    @Option(help: "Element type: f32, bf16, f16, q8_0, q4_0, q4_1.") var dtype = "bf16"
    @Option(help: "Seed of the weights.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "The MTF file to write.") var output: String

    func run() throws {
        guard let s = ModelShape.all.first(where: { $0.name == shape }) else {
            throw ValidationError("unknown shape \(shape); one of " + ModelShape.all.map(\.name).joined(separator: ", "))
        }
        guard let d = DType(rawValue: dtype) else { throw ValidationError("unknown dtype \(dtype)") }
        let base = try MappedTensorFile(path: tokenizerFrom, requireArchitectureTensors: false)
        let source = RandomModelSource(shape: s, tokenizerFrom: base.metadata, seed: seed)
        let t0 = Date()
        let fingerprint = try Converter.convert(source: source, to: output, dtype: d) { done, total in
            if done * 10 / total != (done - 1) * 10 / total {
                FileHandle.standardError.write(Data("make-shape \(s.name): \(done)/\(total) tensors\n".utf8))
            }
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(
            String(
                format: "%@: %.2fB parameters, %@, %.1f GiB, fingerprint %@, %.0f s", s.name, Double(s.parameterCount) / 1e9, dtype,
                Double(size) / 1_073_741_824, fingerprint, Date().timeIntervalSince(t0)))
    }
}
