// Invariants of the forward passes on tiny random models: packing does not change results, a switched-off
// or B = 0 adapter is the base model, the KV cache reproduces full recomputation, quantized-storage paths
// equal their f32 twins, and bad input is refused with a typed error.

import Foundation
import Model
import SeededRandom
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Consistency {
        static let sequences = randomSequences(seed: 3, lengths: [11, 4, 17])
        static let ranges = [2..<11, 1..<4, 5..<17]

        @Test(arguments: [TinySpec.llama, .qwen2, .qwen3, .llamaUntiedScaled, .mistral, .qwen2SlidingLayer, .phi3])
        func packedEqualsSeparate(spec: TinySpec) throws {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let packed = try model.sequenceLogProbs(
                batch: PackedBatch(sequences: Self.sequences), completionRanges: Self.ranges, adapter: adapter)
            for (i, s) in Self.sequences.enumerated() {
                let alone = try model.sequenceLogProbs(batch: PackedBatch(sequences: [s]), completionRanges: [Self.ranges[i]], adapter: adapter)
                // Same math per row; only sgemm blocking over a different row count can reorder sums.
                #expect(maxAbsDiff(Array(packed.tokens(i)), alone.tokenLogProbs) <= 1e-5)
                #expect(abs(packed.sums[i] - alone.sums[0]) <= 1e-4)
                #expect(abs(packed.meanLogitSums[i] - alone.meanLogitSums[0]) <= 1e-4)
            }
        }

        @Test func disabledAdapterAndZeroBEqualTheBase() throws {
            let (model, _) = try makeTinyModel(.qwen3)
            let batch = PackedBatch(sequences: Self.sequences)
            let base = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges)
            let adapter = try makeAdapter(model)
            let on = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            #expect(maxAbsDiff(on.tokenLogProbs, base.tokenLogProbs) > 1e-3)  // the random adapter matters
            adapter.enabled = false
            let off = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            #expect(off == base)
            // A fresh adapter (PEFT init: B = 0) adds exactly zero.
            let fresh = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8), modelConfig: model.config, seed: 1)
            let zeroB = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: fresh)
            #expect(zeroB.tokenLogProbs == base.tokenLogProbs)
            let train = try model.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: fresh) { r in
                [Float](repeating: 1, count: r.tokenLogProbs.count)
            }
            #expect(train.tokenLogProbs == base.tokenLogProbs)
            // With B = 0 only B receives gradient (dA = dtmpᵀ·x with dtmp = dout·B = 0).
            for e in fresh.entries {
                #expect((0..<(fresh.rank * e.inFeatures)).allSatisfy { fresh.da(e)[$0] == 0 })
                #expect((0..<(e.outFeatures * fresh.rank)).contains { fresh.db(e)[$0] != 0 })
            }
        }

        @Test func logProbsMatchFullLogits() throws {
            let (model, _) = try makeTinyModel(.qwen2)
            let adapter = try makeAdapter(model)
            let batch = PackedBatch(sequences: Self.sequences)
            let r = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            let v = model.vocabSize
            var k = 0
            for (s, range) in Self.ranges.enumerated() {
                let start = batch.segments[s].start
                let rows = range.map { start + $0 - 1 }
                let logits = try model.logits(batch: batch, rows: rows, adapter: adapter)
                var meanSum = 0.0
                for (i, t) in range.enumerated() {
                    let row = logits[(i * v)..<((i + 1) * v)].map(Double.init)
                    let mx = row.max()!
                    let lse = mx + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - mx) })
                    let target = Int(batch.tokens[start + t])
                    #expect(abs(row[target] - lse - Double(r.tokenLogProbs[k])) <= 1e-5)
                    meanSum += row.reduce(0, +) / Double(v)
                    k += 1
                }
                #expect(abs(meanSum - Double(r.meanLogitSums[s])) <= 1e-4)
            }
        }

        @Test(arguments: [TinySpec.llama, .qwen3])
        func kvCacheEqualsFullRecompute(spec: TinySpec) throws {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let prompt = Self.sequences[0]
            let generated = try model.generate(prompt: prompt, maxTokens: 12, adapter: adapter)
            #expect(generated.tokens.count == 12 && generated.finishReason == .maxTokens)
            let full = prompt + generated.tokens
            // Logits of every step against one full pass over prompt + generated tokens.
            let rows = Array((prompt.count - 1)..<(full.count - 1))
            let reference = try model.logits(batch: PackedBatch(sequences: [full]), rows: rows, adapter: adapter)
            let session = try model.makeGenerationSession(capacity: full.count, adapter: adapter)
            var stepLogits = try session.prefill(prompt)
            let v = model.vocabSize
            for i in 0..<generated.tokens.count {
                let ref = Array(reference[(i * v)..<((i + 1) * v)])
                // Decode attention sums in another order than the packed kernel: f32 rounding only.
                #expect(maxAbsDiff(stepLogits, ref) <= 1e-5)
                #expect(Sampler.argmax(ref) == Int(generated.tokens[i]))
                if i + 1 < generated.tokens.count { stepLogits = try session.step(generated.tokens[i]) }
            }
        }

        @Test func generationStopsAndSamplesReproducibly() throws {
            let (model, _) = try makeTinyModel(.llama)
            let prompt = Self.sequences[1]
            let greedy = try model.generate(prompt: prompt, maxTokens: 6)
            let stop = greedy.tokens[2]
            let stopped = try model.generate(prompt: prompt, maxTokens: 6, stopTokens: [stop])
            #expect(stopped.finishReason == .stopToken)
            #expect(stopped.tokens == Array(greedy.tokens.prefix(while: { $0 != stop })))
            var seen = 0
            let cancelled = try model.generate(prompt: prompt, maxTokens: 6) { _ in
                seen += 1
                return seen < 3
            }
            #expect(cancelled.finishReason == .cancelled && cancelled.tokens == Array(greedy.tokens.prefix(3)))
            let a = try model.generate(prompt: prompt, maxTokens: 8, temperature: 1.5, topP: 0.9, seed: 5)
            let b = try model.generate(prompt: prompt, maxTokens: 8, temperature: 1.5, topP: 0.9, seed: 5)
            #expect(a == b)
            // A nucleus this small keeps only the most probable token: greedy again.
            let narrow = try model.generate(prompt: prompt, maxTokens: 6, temperature: 1, topP: 1e-6, seed: 9)
            #expect(narrow.tokens == greedy.tokens)
        }

        @Test func sampledFrequenciesFollowTheSoftmax() {
            let logits: [Float] = [0, 1, 2, -1]
            var rng = Xoshiro256(seed: 1)
            var counts = [0, 0, 0, 0]
            let n = 40_000
            for _ in 0..<n { counts[Sampler.sample(logits, temperature: 1, topP: 1, rng: &rng)] += 1 }
            let z = logits.reduce(0.0) { $0 + exp(Double($1)) }
            for i in 0..<4 {
                let p = exp(Double(logits[i])) / z
                // 5 standard deviations of a binomial count.
                #expect(abs(Double(counts[i]) / Double(n) - p) <= 5 * (p * (1 - p) / Double(n)).squareRoot())
            }
        }

        /// bf16 storage goes through FrozenLinear's block decode and the LM head's chunk decode; an f32 model
        /// holding the same (bf16-rounded) values must give the same numbers.
        @Test func bf16StorageEqualsItsF32Twin() throws {
            var spec = TinySpec.qwen2
            spec.dtype = .bf16
            spec.name = "qwen2-bf16"
            let (bf16, path) = try makeTinyModel(spec)
            let file = try MappedTensorFile(path: path)
            var tensors: [String: [Float]] = [:]
            for t in file.tensors { tensors[t.name] = try file.view(t.name).toFloats() }
            let twinPath = TestPaths.temporaryDirectory("leandpo-model") + "/twin.mtf"
            try writeMTF(path: twinPath, config: file.config, tensors: tensors, source: "twin")
            let twin = try LlamaModel(path: twinPath)
            let batch = PackedBatch(sequences: Self.sequences)
            let adapter = try makeAdapter(bf16)
            let a = try bf16.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            let b = try twin.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            #expect(maxAbsDiff(a.tokenLogProbs, b.tokenLogProbs) <= 1e-5)
            adapter.zeroGradients()
            let w = [Float](repeating: 0.5, count: a.tokenLogProbs.count)
            try bf16.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { _ in w }
            let ga = Array(adapter.gradients)
            adapter.zeroGradients()
            try twin.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { _ in w }
            #expect(toleranceRatio(ga, Array(adapter.gradients), atol: 1e-5, rtol: 1e-4) <= 1)
        }

        /// GGUF-style quantized storage (q4_1 projections, a q8_0 tied embedding / LM head, as in the SmolLM2
        /// GGUF): block-decoded paths must equal an f32 model holding the dequantized values.
        @Test func quantizedStorageEqualsItsF32Twin() throws {
            let spec = TinySpec(name: "quant", shape: TinyShape(dim: 32, heads: 4, kvHeads: 2, headDim: 8, ffn: 64, vocab: 45, tied: true))
            let config = spec.config
            var rng = Xoshiro256(seed: 21)
            let path = TestPaths.temporaryDirectory("leandpo-model") + "/quant.mtf"
            let specs = config.requiredTensors.map { t in
                TensorSpec(name: t.name, dtype: t.shape.count == 1 ? .f32 : (t.name.contains("embed") ? .q8_0 : .q4_1), shape: t.shape)
            }
            let writer = try MTFWriter(path: path, metadata: TinyModelFile.metadata(config, source: "quant", converter: "ModelTests"), tensors: specs)
            for s in specs {
                let n = s.shape.reduce(1, *)
                let scale: Float = s.shape.count == 1 ? 0.2 : (s.name.contains("embed") ? 1 : 1.7 / Float(s.shape[1]).squareRoot())
                let values = (0..<n).map { _ in (s.shape.count == 1 ? 1 : 0) + scale * (2 * rng.nextUnitFloat() - 1) }
                switch s.dtype {
                case .q8_0: try quantizeQ8_0(values).withUnsafeBytes { try writer.write(name: s.name, raw: $0) }
                case .q4_1: try quantizeQ4_1(values).withUnsafeBytes { try writer.write(name: s.name, raw: $0) }
                default: try writer.write(name: s.name, floats: values)
                }
            }
            try writer.finish()
            let quant = try LlamaModel(path: path)
            let file = try MappedTensorFile(path: path)
            var tensors: [String: [Float]] = [:]
            for t in file.tensors { tensors[t.name] = try file.view(t.name).toFloats() }
            let twinPath = TestPaths.temporaryDirectory("leandpo-model") + "/quant-twin.mtf"
            try writeMTF(path: twinPath, config: config, tensors: tensors, source: "twin")
            let twin = try LlamaModel(path: twinPath)
            let seqs = Self.sequences.map { $0.map { $0 % 45 } }
            let batch = PackedBatch(sequences: seqs)
            let adapter = try makeAdapter(quant)
            let a = try quant.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            let b = try twin.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            #expect(maxAbsDiff(a.tokenLogProbs, b.tokenLogProbs) <= 1e-5)
            let ga = try quant.generate(prompt: seqs[2], maxTokens: 5)
            #expect(ga == (try twin.generate(prompt: seqs[2], maxTokens: 5)))
        }

        @Test func badInputIsRefused() throws {
            let (model, _) = try makeTinyModel(.llama)
            let batch = PackedBatch(sequences: Self.sequences)
            #expect(throws: ModelError.self) {
                try model.sequenceLogProbs(batch: batch, completionRanges: [0..<3, 1..<4, 5..<17])
            }
            #expect(throws: ModelError.self) {
                try model.sequenceLogProbs(batch: batch, completionRanges: [1..<12, 1..<4, 5..<17])
            }
            #expect(throws: ModelError.self) { try model.sequenceLogProbs(batch: batch, completionRanges: [1..<2]) }
            #expect(throws: ModelError.self) {
                try model.sequenceLogProbs(batch: PackedBatch(sequences: [[1, 2, 37]]), completionRanges: [1..<3])
            }
            let adapter = try makeAdapter(model)
            #expect(throws: ModelError.self) {
                try model.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { _ in [1, 2] }
            }
            var other = TinySpec.qwen3
            other.layers = 3
            let foreign = try LoRAAdapter(config: LoRAConfig(r: 2), modelConfig: other.config, seed: 1)
            #expect(throws: ModelError.self) {
                try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: foreign)
            }
            #expect(throws: ModelError.self) { try model.generate(prompt: [], maxTokens: 3) }
            #expect(throws: ModelError.self) { try model.logits(batch: batch, rows: [32]) }
        }
    }
}

// MARK: - Reference quantizers (ggml's q8_0 and q4_1 block layouts)

func quantizeQ8_0(_ x: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    for b in stride(from: 0, to: x.count, by: 32) {
        let block = x[b..<(b + 32)]
        let amax = block.map(abs).max()!
        let d = amax / 127
        withUnsafeBytes(of: floatToHalf(d).littleEndian) { out += $0 }
        let id = d == 0 ? 0 : 1 / d
        for v in block { out.append(UInt8(bitPattern: Int8((v * id).rounded()))) }
    }
    return out
}

func quantizeQ4_1(_ x: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    for b in stride(from: 0, to: x.count, by: 32) {
        let block = Array(x[b..<(b + 32)])
        let mn = block.min()!, mx = block.max()!
        let d = (mx - mn) / 15
        withUnsafeBytes(of: floatToHalf(d).littleEndian) { out += $0 }
        withUnsafeBytes(of: floatToHalf(mn).littleEndian) { out += $0 }
        let id = d == 0 ? 0 : 1 / d
        func q(_ v: Float) -> UInt8 { UInt8(min(15, max(0, ((v - mn) * id).rounded()))) }
        for j in 0..<16 { out.append(q(block[j]) | (q(block[j + 16]) << 4)) }
    }
    return out
}
