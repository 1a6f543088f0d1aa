// The kernels over real mapped tensors: a tiny MTF written with MTFWriter (quantized weight, f16 bias,
// q8_0 embedding) read back through TensorView, and, when present, the SmolLM2 test model.

import Foundation
import Kernels
import TensorFile
import TestSupport
import Testing

@Suite struct TensorViewTests {
    static func metadata(vocab: Int, dim: Int) -> MTFMetadata {
        MTFMetadata(
            config: ModelConfig(
                architecture: .llama, hiddenSize: dim, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2,
                numKeyValueHeads: 1, rmsNormEps: 1e-5, ropeTheta: 1e4, maxPositionEmbeddings: 64, vocabSize: vocab,
                tieWordEmbeddings: true),
            tokenizer: TokenizerData(preTokenizer: "byte_level", vocab: [], merges: [], addedTokens: []),
            chatTemplate: nil,
            provenance: Provenance(
                sourceFormat: "test", sourceName: "kernels", sourceXxh64: "0000000000000000", converter: "test", converterVersion: "0"))
    }

    // Same data through TensorView and through WeightMatrix over the raw bytes must give identical
    // results (same code path after the view is taken): exact equality.
    @Test func mappedTensorsDriveTheKernels() throws {
        let dir = TestPaths.temporaryDirectory("kernels")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tiny.mtf"
        let n = 48, k = 64, vocab = 10
        let w = randomFloats(n * k, seed: 110), bias = randomFloats(n, seed: 111), emb = randomFloats(vocab * k, seed: 112)
        let wq = quantizeQ4_1(w), eq = quantizeQ8_0(emb)
        let writer = try MTFWriter(
            path: path, metadata: Self.metadata(vocab: vocab, dim: k),
            tensors: [
                TensorSpec(name: "w", dtype: .q4_1, shape: [n, k]), TensorSpec(name: "b", dtype: .f16, shape: [n]),
                TensorSpec(name: "emb", dtype: .q8_0, shape: [vocab, k]),
            ])
        try wq.withUnsafeBytes { try writer.write(name: "w", raw: $0) }
        try writer.write(name: "b", floats: bias)
        try eq.withUnsafeBytes { try writer.write(name: "emb", raw: $0) }
        try writer.finish()
        let file = try MappedTensorFile(path: path, requireArchitectureTensors: false)

        let inp = randomFloats(3 * k, seed: 113)
        let mapped = FrozenLinear(weight: try file.view("w"), bias: try file.view("b"), blockRows: 32)
        var scratch = [Float](repeating: 0, count: mapped.scratchFloats)
        var a = [Float](repeating: .nan, count: 3 * n)
        mapped.forward(out: &a, inp: inp, rows: 3, scratch: &scratch)
        var b = [Float](repeating: .nan, count: 3 * n)
        wq.withUnsafeBytes { raw in
            let direct = FrozenLinear(
                weight: WeightMatrix(base: raw.baseAddress!, dtype: .q4_1, rows: n, cols: k),
                bias: bias.map { Float(Float16($0)) }, blockRows: 32)
            direct.forward(out: &b, inp: inp, rows: 3, scratch: &scratch)
        }
        #expect(a == b)

        let tokens: [Int32] = [9, 0, 4]
        var e1 = [Float](repeating: .nan, count: 3 * k), e2 = e1
        Embedding.forward(out: &e1, tokens: tokens, table: WeightMatrix(try file.view("emb")), count: 3)
        eq.withUnsafeBytes { raw in
            Embedding.forward(out: &e2, tokens: tokens, table: WeightMatrix(base: raw.baseAddress!, dtype: .q8_0, rows: vocab, cols: k), count: 3)
        }
        #expect(e1 == e2)
    }

    // The real model, when converted: a layer-0 projection and the tied LM head on a few embedded
    // tokens, each against the Double reference on the decoded weights (atol 1e-4, rtol 1e-4: sums of
    // 576 products of O(0.1) values).
    @Test(.enabled(if: TestPaths.smolLM2 != nil)) func smolLM2Projections() throws {
        let file = try MappedTensorFile(path: TestPaths.smolLM2!)
        let c = file.config
        let tokens: [Int32] = [1, 504, 2683, 30]
        var x = [Float](repeating: 0, count: tokens.count * c.hiddenSize)
        let embedding = try file.view("model.embed_tokens.weight")
        Embedding.forward(out: &x, tokens: tokens, table: WeightMatrix(embedding), count: tokens.count)

        let qView = try file.view("model.layers.0.self_attn.q_proj.weight")
        let q = FrozenLinear(weight: qView)
        var scratch = [Float](repeating: 0, count: max(1, q.scratchFloats))
        var out = [Float](repeating: .nan, count: tokens.count * q.outFeatures)
        q.forward(out: &out, inp: x, rows: tokens.count, scratch: &scratch)
        let ref = Reference.matmul(
            inp: x.doubles, weight: qView.toFloats().doubles, bias: nil, m: tokens.count, k: q.inFeatures, n: q.outFeatures)
        expectClose(out, ref, atol: 1e-4, rtol: 1e-4, "q_proj")

        let head = WeightMatrix(embedding)
        var logps = [Float](repeating: 0, count: tokens.count), lse = logps
        let targets: [Int32] = [504, 2683, 30, 2]
        var lpScratch = [Float](
            repeating: 0, count: TokenLogProbs.scratchFloats(rows: tokens.count, dim: c.hiddenSize, vocab: c.vocabSize, dtype: head.dtype))
        lpScratch.withUnsafeMutableBufferPointer { s in
            TokenLogProbs.forward(logps: &logps, lse: &lse, hidden: x, targets: targets, weight: head, rows: tokens.count, scratch: s)
        }
        let lp = Reference.logprobs(
            hidden: x.doubles, targets: targets.map(Int.init), weight: embedding.toFloats().doubles, rows: tokens.count, dim: c.hiddenSize,
            vocab: c.vocabSize)
        expectClose(logps, lp.logps, atol: 1e-4, rtol: 1e-4, "log-probs through the tied head")
    }
}
