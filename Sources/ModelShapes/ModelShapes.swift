// Named real architectures' shapes with seeded random weights, for `leandpo-bench make-shape` and the
// `tools/bench --shape` runs: the tensor list of each published config.json, written straight to MTF in any
// dtype through the converter (one tensor in memory at a time, so the 8B shape needs about its largest
// tensor, not the model). The tokenizer is SmolLM2's (a real byte-level BPE), its vocabulary padded with
// unused tokens up to the shape's vocabulary, or cut down to it. Quality is meaningless; shapes, dtypes
// and the code path are real.

import Foundation
import ModelFiles
import SeededRandom
import TensorFile

/// The published configurations (config.json of each model) that matter for speed and memory. Gemma's layer
/// kinds follow the architecture's default pattern (Gemma 2: even layers slide; Gemma 3: every 6th is global).
public struct ModelShape: Sendable {
    public let name: String
    public let architecture: ModelConfig.Architecture
    public let hidden, ffn, layers, heads, kvHeads, vocab: Int
    public let tied: Bool
    public let ropeTheta: Double
    public var attentionBias = false
    /// head_dim where it is not hidden / heads (Gemma).
    public var headDim: Int? = nil
    public var rmsNormEps = 1e-5
    public var maxPositions = 8192
    public var slidingWindow: Int? = nil
    public var ropeScaling: RopeScaling? = nil
    /// Gemma: query_pre_attn_scalar, the soft caps, Gemma 3's RoPE base of the sliding layers.
    public var queryPreAttnScalar: Double? = nil
    public var attnLogitSoftcapping: Double? = nil
    public var finalLogitSoftcapping: Double? = nil
    public var ropeLocalBaseFreq: Double? = nil

    public static let all: [ModelShape] = [
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
        // microsoft/Phi-3-mini-4k-instruct config.json (Phi-3.5-mini has the same shapes): fused qkv_proj and
        // gate_up_proj, untied, a 2047-token window on every layer, 4096 positions.
        ModelShape(
            name: "phi-3-mini", architecture: .phi3, hidden: 3072, ffn: 8192, layers: 32, heads: 32, kvHeads: 32, vocab: 32064, tied: false,
            ropeTheta: 10_000, maxPositions: 4096, slidingWindow: 2047),
        ModelShape(
            name: "llama-3.1-8b", architecture: .llama, hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 128_256, tied: false,
            ropeTheta: 500_000),
        // mistralai/Mistral-7B-v0.3 config.json: vocab 32768, rope_theta 1e6, sliding_window null (full attention).
        ModelShape(
            name: "mistral-7b", architecture: .mistral, hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32768, tied: false,
            ropeTheta: 1_000_000, maxPositions: 32768),
        // mistralai/Mistral-7B-v0.1 config.json: vocab 32000, rope_theta 1e4, a 4096-token window on every layer.
        ModelShape(
            name: "mistral-7b-v0.1", architecture: .mistral, hidden: 4096, ffn: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32000,
            tied: false, ropeTheta: 10000, maxPositions: 32768, slidingWindow: 4096),
        // google/gemma-2-2b config.json: head_dim 256 (≠ 2304 / 8), window 4096 on the even layers, caps 50 and 30.
        ModelShape(
            name: "gemma-2-2b", architecture: .gemma2, hidden: 2304, ffn: 9216, layers: 26, heads: 8, kvHeads: 4, vocab: 256_000, tied: true,
            ropeTheta: 10000, headDim: 256, rmsNormEps: 1e-6, slidingWindow: 4096, queryPreAttnScalar: 256, attnLogitSoftcapping: 50,
            finalLogitSoftcapping: 30),
        // google/gemma-3-1b-pt config.json (gemma3_text): window 512, every 6th layer global at RoPE base 1e6, the
        // others at 1e4; q/k norms; no caps.
        ModelShape(
            name: "gemma-3-1b", architecture: .gemma3, hidden: 1152, ffn: 6912, layers: 26, heads: 4, kvHeads: 1, vocab: 262_144, tied: true,
            ropeTheta: 1_000_000, headDim: 256, rmsNormEps: 1e-6, maxPositions: 32768, slidingWindow: 512, queryPreAttnScalar: 256,
            ropeLocalBaseFreq: 10000),
        // google/gemma-3-4b-pt config.json, its text_config (a plain gemma3_text; the vision tower is not part of
        // the shape): window 1024, global layers' RoPE linearly scaled ×8.
        ModelShape(
            name: "gemma-3-4b", architecture: .gemma3, hidden: 2560, ffn: 10240, layers: 34, heads: 8, kvHeads: 4, vocab: 262_208, tied: true,
            ropeTheta: 1_000_000, headDim: 256, rmsNormEps: 1e-6, maxPositions: 131_072, slidingWindow: 1024,
            ropeScaling: RopeScaling(ropeType: "linear", factor: 8), queryPreAttnScalar: 256, ropeLocalBaseFreq: 10000),
    ]

    public static func named(_ name: String) -> ModelShape? { all.first { $0.name == name } }

    var isGemma: Bool { architecture == .gemma2 || architecture == .gemma3 }
    var resolvedHeadDim: Int { headDim ?? hidden / heads }

    public var config: ModelConfig {
        ModelConfig(
            architecture: architecture, hiddenSize: hidden, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
            numKeyValueHeads: kvHeads, headDim: resolvedHeadDim, rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, ropeScaling: ropeScaling,
            maxPositionEmbeddings: maxPositions, vocabSize: vocab, tieWordEmbeddings: tied, attentionBias: attentionBias,
            qkNorm: architecture == .gemma3, hiddenAct: isGemma ? "gelu_pytorch_tanh" : "silu", bosTokenId: 1, eosTokenIds: [2],
            slidingWindow: slidingWindow, queryPreAttnScalar: queryPreAttnScalar, attnLogitSoftcapping: attnLogitSoftcapping,
            finalLogitSoftcapping: finalLogitSoftcapping, ropeLocalBaseFreq: ropeLocalBaseFreq,
            layerTypes: isGemma ? GGUFExporter.gemmaLayerTypes(architecture, layers: layers) : nil)
    }

    /// Hugging Face names and shapes, in the order the converter writes them. Norms are "ones", or "zeros" for
    /// Gemma, whose files keep w of its (1 + w) RMSNorm: the effective scale is 1 either way.
    public var tensors: [SourceTensor] {
        let headDim = resolvedHeadDim
        let norm = isGemma ? "zeros" : "ones"
        var out = [SourceTensor(name: "model.embed_tokens.weight", shape: [vocab, hidden], sourceDType: "random")]
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            out.append(SourceTensor(name: p + "input_layernorm.weight", shape: [hidden], sourceDType: norm))
            if architecture == .phi3 {
                out.append(
                    SourceTensor(name: p + "self_attn.qkv_proj.weight", shape: [(heads + 2 * kvHeads) * headDim, hidden], sourceDType: "random"))
                out.append(SourceTensor(name: p + "self_attn.o_proj.weight", shape: [hidden, heads * headDim], sourceDType: "random"))
                out.append(SourceTensor(name: p + "post_attention_layernorm.weight", shape: [hidden], sourceDType: norm))
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
            if architecture == .gemma3 {
                out.append(SourceTensor(name: p + "self_attn.q_norm.weight", shape: [headDim], sourceDType: norm))
                out.append(SourceTensor(name: p + "self_attn.k_norm.weight", shape: [headDim], sourceDType: norm))
            }
            out.append(SourceTensor(name: p + "post_attention_layernorm.weight", shape: [hidden], sourceDType: norm))
            if isGemma { out.append(SourceTensor(name: p + "pre_feedforward_layernorm.weight", shape: [hidden], sourceDType: norm)) }
            out.append(SourceTensor(name: p + "mlp.gate_proj.weight", shape: [ffn, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "mlp.up_proj.weight", shape: [ffn, hidden], sourceDType: "random"))
            out.append(SourceTensor(name: p + "mlp.down_proj.weight", shape: [hidden, ffn], sourceDType: "random"))
            if isGemma { out.append(SourceTensor(name: p + "post_feedforward_layernorm.weight", shape: [hidden], sourceDType: norm)) }
        }
        out.append(SourceTensor(name: "model.norm.weight", shape: [hidden], sourceDType: norm))
        if !tied { out.append(SourceTensor(name: "lm_head.weight", shape: [vocab, hidden], sourceDType: "random")) }
        return out
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    /// The same architecture at test size: widths and head_dim divided by `factor` (the heads, their ratio and
    /// head_dim ≠ hidden / heads kept), `layers` layers (6 reach Gemma 3's first global layer), `vocab`
    /// tokens, the window at most 8 so short sequences slide.
    public func scaledDown(by factor: Int = 16, layers: Int = 6, vocab: Int = 512) -> ModelShape {
        var s = ModelShape(
            name: name + "-tiny", architecture: architecture, hidden: hidden / factor, ffn: ffn / factor, layers: min(layers, self.layers),
            heads: heads, kvHeads: kvHeads, vocab: vocab, tied: tied, ropeTheta: ropeTheta, attentionBias: attentionBias)
        s.headDim = headDim.map { $0 / factor } ?? (hidden / heads) / factor
        s.rmsNormEps = rmsNormEps
        s.maxPositions = maxPositions
        s.slidingWindow = slidingWindow.map { min($0, 8) }
        s.ropeScaling = ropeScaling
        s.queryPreAttnScalar = queryPreAttnScalar
        s.attnLogitSoftcapping = attnLogitSoftcapping
        s.finalLogitSoftcapping = finalLogitSoftcapping
        s.ropeLocalBaseFreq = ropeLocalBaseFreq
        return s
    }

    /// Writes the shape with seeded random weights and `base`'s tokenizer and chat template as MTF in `dtype`;
    /// returns the model fingerprint.
    public func write(
        to path: String, dtype: DType, tokenizerFrom base: MTFMetadata, seed: UInt64, progress: ((Int, Int) -> Void)? = nil
    ) throws -> String {
        try Converter.convert(source: RandomModelSource(shape: self, tokenizerFrom: base, seed: seed), to: path, dtype: dtype, progress: progress)
    }
}

/// The shape as a converter source: seeded uniform weights with the std of a 0.02 normal, norms of ones
/// (zeros for Gemma's w).
public struct RandomModelSource: ModelSource {
    public let shape: ModelShape
    public let metadata: MTFMetadata
    public let tensors: [SourceTensor]
    let seed: UInt64

    public init(shape: ModelShape, tokenizerFrom base: MTFMetadata, seed: UInt64) {
        self.shape = shape
        self.seed = seed
        metadata = MTFMetadata(
            config: shape.config, tokenizer: Self.fitted(base.tokenizer, to: shape.vocab), chatTemplate: base.chatTemplate,
            provenance: Provenance(
                sourceFormat: "random", sourceName: "shape:\(shape.name)", sourceXxh64: String(seed, radix: 16),
                converter: "leandpo-bench make-shape",
                converterVersion: "1"))
        tensors = shape.tensors
    }

    /// The tokenizer with exactly `vocab` ids: padded with unused tokens, or cut to its first `vocab` tokens
    /// (Mistral's 32768 against SmolLM2's 49152), dropping the merges and added tokens that need a cut one.
    static func fitted(_ base: TokenizerData, to vocab: Int) -> TokenizerData {
        var tokenizer = base
        let realVocab = tokenizer.vocab.count + tokenizer.addedTokens.filter { $0.id >= tokenizer.vocab.count }.count
        if realVocab <= vocab {
            for i in realVocab..<vocab { tokenizer.vocab.append("<|unused_\(i)|>") }
            return tokenizer
        }
        tokenizer.vocab.removeLast(max(0, tokenizer.vocab.count - vocab))
        let kept = Set(tokenizer.vocab)
        tokenizer.merges = tokenizer.merges.filter { m in
            guard let (a, b) = TokenizerData.splitMerge(m) else { return false }
            return kept.contains(a) && kept.contains(b) && kept.contains(a + b)
        }
        tokenizer.addedTokens = tokenizer.addedTokens.filter { $0.id < vocab }
        // A SentencePiece tokenizer's per-token arrays follow its vocabulary.
        if let scores = tokenizer.sentencePiece?.scores { tokenizer.sentencePiece?.scores = Array(scores.prefix(vocab)) }
        if let types = tokenizer.sentencePiece?.tokenTypes { tokenizer.sentencePiece?.tokenTypes = Array(types.prefix(vocab)) }
        return tokenizer
    }

    public func load(_ t: SourceTensor, into out: UnsafeMutablePointer<Float>) throws {
        let n = t.elementCount
        switch t.sourceDType {
        case "ones":
            out.update(repeating: 1, count: n)
            return
        case "zeros":
            out.update(repeating: 0, count: n)
            return
        default: break
        }
        // Each tensor has its own stream (seed ⊕ hash of its name), so tensors do not depend on the order.
        var h: UInt64 = seed
        for b in t.name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        let a: Float = 0.02 * Float(3.0.squareRoot())
        var rng = SplitMix64(seed: h)
        for i in 0..<n { out[i] = a * (2 * Float(rng.next() >> 40) / Float(1 << 24) - 1) }
    }
}
