// Tiny models for the test targets: one shape type that builds a ModelConfig, a placeholder tokenizer,
// random weights with activations of order 1, and the MTF writer they all use.
// D model dim, H heads, Hk kv heads, Dh head dim, F ffn dim, V vocab, L layers.

import SeededRandom
import TensorFile

/// The shape of a tiny test model. The defaults (D 16, H 4, Hk 2, Dh 4, F 24, L 2, V 37) run a
/// forward+backward of a few short sequences in about a millisecond; each target changes what it needs.
public struct TinyShape: Sendable, Equatable {
    public var architecture: ModelConfig.Architecture = .llama
    public var dim = 16  // D
    public var heads = 4  // H
    public var kvHeads = 2  // Hk
    public var headDim: Int? = 4  // Dh; nil: D / H
    public var ffn = 24  // F
    public var vocab = 37  // V
    public var layers = 2  // L
    public var tied = true
    public var bias = false
    public var qkNorm = false
    public var ropeScaling: RopeScaling? = nil
    public var ropeTheta = 10_000.0
    public var rmsNormEps = 1e-6
    public var maxPositions = 256
    public var padTokenId: Int? = nil
    /// Sliding-window attention (ModelConfig.slidingWindow / layerTypes).
    public var slidingWindow: Int? = nil
    public var layerTypes: [String]? = nil

    public init(
        architecture: ModelConfig.Architecture = .llama, dim: Int = 16, heads: Int = 4, kvHeads: Int = 2, headDim: Int? = 4,
        ffn: Int = 24, vocab: Int = 37, layers: Int = 2, tied: Bool = true, bias: Bool = false, qkNorm: Bool = false,
        ropeScaling: RopeScaling? = nil, ropeTheta: Double = 10_000, rmsNormEps: Double = 1e-6, maxPositions: Int = 256,
        padTokenId: Int? = nil
    ) {
        self.architecture = architecture
        self.dim = dim
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ffn = ffn
        self.vocab = vocab
        self.layers = layers
        self.tied = tied
        self.bias = bias
        self.qkNorm = qkNorm
        self.ropeScaling = ropeScaling
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.maxPositions = maxPositions
        self.padTokenId = padTokenId
    }

    /// BOS 1, EOS 2.
    public var config: ModelConfig {
        ModelConfig(
            architecture: architecture, hiddenSize: dim, intermediateSize: ffn, numHiddenLayers: layers, numAttentionHeads: heads,
            numKeyValueHeads: kvHeads, headDim: headDim, rmsNormEps: rmsNormEps, ropeTheta: ropeTheta, ropeScaling: ropeScaling,
            maxPositionEmbeddings: maxPositions, vocabSize: vocab, tieWordEmbeddings: tied, attentionBias: bias, qkNorm: qkNorm,
            bosTokenId: 1, eosTokenIds: [2], padTokenId: padTokenId, slidingWindow: slidingWindow, layerTypes: layerTypes)
    }
}

public enum TinyModelFile {
    /// Metadata with a placeholder vocabulary t0 … t(V−1) and no merges (tests that feed token ids).
    public static func metadata(
        _ config: ModelConfig, source: String, converter: String = "tests", chatTemplate: String? = nil, addedTokens: [AddedToken] = []
    ) -> MTFMetadata {
        MTFMetadata(
            config: config,
            tokenizer: TokenizerData(
                preTokenizer: "gpt2", vocab: (0..<config.vocabSize).map { "t\($0)" }, merges: [], addedTokens: addedTokens),
            chatTemplate: chatTemplate,
            provenance: Provenance(
                sourceFormat: "test", sourceName: source, sourceXxh64: "0000000000000000", converter: converter, converterVersion: "1"))
    }

    /// Random weights for every tensor `config` needs, drawn in `requiredTensors` order from
    /// Xoshiro256(seed): norms 1 ± 0.2, biases ± 0.3, embedding and LM head ± 1, projections ± 1.7/√in,
    /// so activations stay of order 1 through the layers.
    public static func randomWeights(_ config: ModelConfig, seed: UInt64) -> [String: [Float]] {
        var rng = Xoshiro256(seed: seed)
        func uniform(_ n: Int, _ scale: Float, center: Float = 0) -> [Float] {
            (0..<n).map { _ in center + scale * (2 * rng.nextUnitFloat() - 1) }
        }
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
        return tensors
    }

    /// Writes every tensor `metadata.config` needs from `tensors` (name → f32 values): matrices in
    /// `dtype`, 1-D tensors (norms, biases) in f32. Throws when one is missing.
    public static func write(path: String, metadata: MTFMetadata, tensors: [String: [Float]], dtype: DType = .f32) throws {
        let required = metadata.config.requiredTensors
        let specs = required.map { TensorSpec(name: $0.name, dtype: $0.shape.count == 2 ? dtype : .f32, shape: $0.shape) }
        let writer = try MTFWriter(path: path, metadata: metadata, tensors: specs)
        for t in required {
            guard let values = tensors[t.name] else { throw MissingTensor(name: t.name, path: path) }
            try writer.write(name: t.name, floats: values)
        }
        try writer.finish()
    }

    public struct MissingTensor: Error, CustomStringConvertible {
        public let name: String
        public let path: String
        public var description: String { "\(path): no values given for tensor \(name)" }
    }
}
