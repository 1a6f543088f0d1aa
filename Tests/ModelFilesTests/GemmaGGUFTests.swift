// Gemma 2 / Gemma 3 through GGUF: export as llama.cpp's converter lays them out (gemma names, norm weights + 1,
// the caps, q/k norms for Gemma 3) and read back to the same config and weights; layouts llama.cpp cannot hold
// are refused naming the field.

import Foundation
import ModelFiles
import TensorFile
import TestSupport
import Testing

@Suite struct GemmaGGUFTests {
    /// llama.cpp's fixed layouts: Gemma 2's even layers slide, Gemma 3's all but every 6th, local RoPE base 10000;
    /// query_pre_attn_scalar = head_dim (what llama.cpp derives); caps exact in f32; a window on the sliding layers.
    static let gemma2 = TinyModel(name: "gemma2") {
        ($0.architecture, $0.headDim) = (.gemma2, 32)
        ($0.queryPreAttnScalar, $0.attnLogitSoftcapping, $0.finalLogitSoftcapping) = (32, 50, 30)
        ($0.layerTypes, $0.slidingWindow) = (["sliding_attention", "full_attention"], 64)
    }
    static let gemma3 = TinyModel(name: "gemma3") {
        ($0.architecture, $0.headDim, $0.qkNorm, $0.queryPreAttnScalar) = (.gemma3, 32, true, 32)
        $0.ropeTheta = 1_000_000
        $0.ropeScaling = RopeScaling(ropeType: "linear", factor: 8)
        ($0.ropeLocalBaseFreq, $0.layerTypes, $0.slidingWindow) = (10000, ["sliding_attention", "sliding_attention"], 64)
    }

    @Test(arguments: [Self.gemma2, Self.gemma3])
    func ggufRoundTripKeepsConfigAndWeights(_ m: TinyModel) throws {
        let dir = TempDir("gemma-gguf")
        let values = try m.write(to: dir.file("base.mtf"))
        try GGUFExporter.write(source: MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf"))), to: dir.file("m.gguf"), type: .f32)
        let back = try #require(try ModelImporter.open(dir.file("m.gguf")) as? GGUFModelSource)
        #expect(back.metadata.config == m.config)
        let f = back.file
        #expect(f["general.architecture"]?.string == m.architecture.rawValue)
        #expect(
            f.tensors.contains { $0.name == "blk.1.post_ffw_norm.weight" } && f.tensors.contains { $0.name == "blk.0.post_attention_norm.weight" })
        #expect(f.tensors.contains { $0.name == "blk.0.attn_q_norm.weight" } == (m.architecture == .gemma3))
        #expect((f[m.architecture.rawValue + ".final_logit_softcapping"] != nil) == (m.architecture == .gemma2))
        // Norms are stored as w + 1: (w + 1) − 1 rounds w's low bits (|w| ≤ 1.2: within 2.4e-7); the rest is exact.
        let loaded = try loadAll(back)
        #expect(Set(loaded.keys) == Set(values.keys))
        for (name, v) in values {
            let got = try #require(loaded[name])
            if name.hasSuffix("norm.weight") {
                #expect(zip(got, v).allSatisfy { abs($0 - $1) <= 2.4e-7 }, "\(name)")
            } else {
                #expect(got == v, "\(name)")
            }
        }
        let stored = try #require(f.tensors.first { $0.name == "blk.0.attn_norm.weight" })
        let raw = [Float](unsafeUninitializedCapacity: stored.elementCount) { b, n in
            stored.type.dequantize(f.data(stored).baseAddress!, into: b.baseAddress!, count: stored.elementCount)
            n = stored.elementCount
        }
        #expect(abs(raw[0] - (values["model.layers.0.input_layernorm.weight"]![0] + 1)) <= 2.4e-7)
    }

    @Test func layoutsLlamaCppCannotHoldAreRefused() throws {
        let dir = TempDir("gemma-gguf-refused")
        var m = Self.gemma3
        m.shape.layerTypes = ["sliding_attention", "full_attention"]
        _ = try m.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")))
        #expect(throws: ModelFileError.self) { try GGUFExporter.write(source: source, to: dir.file("m.gguf"), type: .f32) }
        do {
            try GGUFExporter.write(source: source, to: dir.file("m2.gguf"), type: .f32)
        } catch {
            #expect("\(error)".contains("layer_types"), "\(error)")
        }
    }
}
