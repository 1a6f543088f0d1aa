// Folding a LoRA adapter into base weights for export: W' = W + scale·B·A per adapted projection, one
// tensor at a time in the caller's f32 buffer (one sgemm, no extra memory), as PEFT's merge_and_unload.
// R lora rank; W is (out, in), B (out, R), A (R, in).

import Kernels
import Model
import TensorFile

public struct LoRAMerge: Sendable {
    /// Hugging Face weight name (`model.layers.N.self_attn.q_proj.weight`) → table entries (several for a
    /// fused Phi-3 weight, each a row range of it).
    private let byName: [String: [LoRAAdapter.Entry]]
    private let adapter: LoRAAdapter

    /// Checks the adapter was built for a model shaped like `base` (every projection size equal).
    public init(adapter: LoRAAdapter, base: ModelConfig) throws {
        let a = adapter.modelConfig
        guard a.numHiddenLayers == base.numHiddenLayers, a.hiddenSize == base.hiddenSize,
            a.intermediateSize == base.intermediateSize, a.numAttentionHeads == base.numAttentionHeads,
            a.numKeyValueHeads == base.numKeyValueHeads, a.headDim == base.headDim
        else {
            throw ModelError.adapterMismatch(
                what:
                    "built for \(a.numHiddenLayers) layers, hidden \(a.hiddenSize), ffn \(a.intermediateSize), heads \(a.numAttentionHeads)/\(a.numKeyValueHeads)×\(a.headDim); the base has \(base.numHiddenLayers), \(base.hiddenSize), \(base.intermediateSize), \(base.numAttentionHeads)/\(base.numKeyValueHeads)×\(base.headDim)"
            )
        }
        self.adapter = adapter
        var byName: [String: [LoRAAdapter.Entry]] = [:]
        for e in adapter.entries { byName[Self.weightName(e), default: []].append(e) }
        self.byName = byName
    }

    /// The base weight an entry adapts.
    public static func weightName(_ e: LoRAAdapter.Entry) -> String {
        "model.layers.\(e.layer).\(e.module).weight"
    }

    /// Names of every weight the merge changes.
    public var mergedNames: [String] { byName.keys.sorted() }

    /// Adds scale·B·A to `weights` when `name` is an adapted projection; returns whether it did.
    @discardableResult
    public func apply(name: String, weights: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let list = byName[name] else { return false }
        for e in list {
            precondition(
                weights.count == e.moduleRows * e.inFeatures, "\(name): \(weights.count) values for (\(e.moduleRows), \(e.inFeatures))")
            // W[rows of e] (out, in) += scale · B (out, R) · A (R, in)
            BLAS.sgemm(
                transA: false, transB: false, m: e.outFeatures, n: e.inFeatures, k: adapter.rank, alpha: adapter.scale,
                a: adapter.b(e), lda: adapter.rank, b: adapter.a(e), ldb: e.inFeatures, beta: 1,
                c: weights.baseAddress! + e.rowOffset * e.inFeatures, ldc: e.inFeatures)
        }
        return true
    }
}
