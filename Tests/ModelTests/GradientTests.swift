// Finite-difference checks of the whole model's LoRA gradient (forwardBackward) on tiny random models of
// every architecture flavour, with a weighted-log-prob loss over three packed sequences of different lengths.

import Foundation
import Model
import SeededRandom
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Gradients {
        static let sequences = randomSequences(seed: 42, lengths: [9, 5, 12])
        static let ranges = [3..<9, 1..<5, 6..<12]

        /// Loss weights w_t, one per scored token (16 of them).
        static let weights: [Float] = {
            var rng = Xoshiro256(seed: 43)
            return (0..<16).map { _ in 2 * rng.nextUnitFloat() - 1 }
        }()

        /// Σ w_t · logp_t in Double.
        static func loss(_ r: SequenceLogProbs) -> Double {
            zip(weights, r.tokenLogProbs).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }

        /// Compares analytic and central-difference gradients at `count` random A and B entries.
        /// `evaluate` computes the loss with the adapter's current parameters.
        static func check(adapter: LoRAAdapter, analytic: [Float], count: Int, seed: UInt64, evaluate: () throws -> Double) rethrows
            -> (worst: Double, checked: Int)
        {
            var rng = Xoshiro256(seed: seed)
            var indices: [Int] = []
            for i in 0..<count {
                let e = adapter.entries[Int(rng.next() % UInt64(adapter.entries.count))]
                let inA = i % 2 == 0
                let n = inA ? adapter.rank * e.inFeatures : e.outFeatures * adapter.rank
                indices.append((inA ? e.offsetA : e.offsetB) + Int(rng.next() % UInt64(n)))
            }
            // eps 1e-2: parameters are O(0.3); truncation error O(eps²) ≈ 1e-4 relative. Each loss is an f32
            // forward with rounding ≈ 1e-6 per logp, so the difference quotient carries ≈ 16·1e-6/2e-2 ≈ 1e-3
            // absolute noise at worst; tolerance: |fd − an| ≤ 2e-3 + 2e-2·|an|.
            let eps: Float = 1e-2
            var worst = 0.0
            for idx in indices {
                let fd = try centralDifference(adapter.parameters, at: idx, eps: eps, evaluate)
                let an = Double(analytic[idx])
                let ratio = abs(fd - an) / (2e-3 + 2e-2 * abs(an))
                worst = max(worst, ratio)
                if ratio > 1 { print("grad mismatch at \(idx): analytic \(an), finite difference \(fd)") }
            }
            return (worst, indices.count)
        }

        @Test(arguments: [TinySpec.llama, .qwen2, .qwen3, .llamaUntiedScaled, .gemma2, .gemma3, .mistral, .qwen2SlidingLayer, .phi3, .phi3LongRope])
        func loraGradientMatchesFiniteDifferences(spec: TinySpec) throws {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model)
            let batch = PackedBatch(sequences: Self.sequences)
            adapter.zeroGradients()
            let result = try model.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { r in
                #expect(r.tokenLogProbs.count == Self.weights.count)
                return Self.weights
            }
            // The training forward equals the inference forward.
            let eval = try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter)
            #expect(maxAbsDiff(result.tokenLogProbs, eval.tokenLogProbs) <= 1e-6)
            let analytic = Array(adapter.gradients)
            #expect(analytic.contains { $0 != 0 })
            let (worst, n) = try Self.check(adapter: adapter, analytic: analytic, count: 40, seed: 5) {
                Self.loss(try model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: adapter))
            }
            #expect(n == 40)
            #expect(worst <= 1, "worst |fd − analytic| / tolerance = \(worst) for \(spec)")
        }

        @Test func gradientsAccumulateAcrossCalls() throws {
            let (model, _) = try makeTinyModel(.llama)
            let adapter = try makeAdapter(model)
            let batch = PackedBatch(sequences: Self.sequences)
            adapter.zeroGradients()
            try model.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { _ in Self.weights }
            let once = Array(adapter.gradients)
            try model.forwardBackward(batch: batch, completionRanges: Self.ranges, adapter: adapter) { _ in Self.weights }
            let twice = Array(adapter.gradients)
            // Same inputs, same arithmetic: the second call adds exactly the same values.
            #expect(twice == once.map { $0 + $0 })
        }

        /// LoRA dropout: the mask depends only on (seed, layer, target, index), so the training forward is a
        /// deterministic function of the parameters and its gradient can be checked the same way.
        @Test func gradientWithDropoutMatchesFiniteDifferences() throws {
            let run = try Self.dropoutCheck(.qwen2)
            #expect(run.worst <= 1, "worst ratio \(run.worst)")
            // Dropout changes the training forward (and only it); another seed gives another mask.
            let batch = PackedBatch(sequences: Self.sequences)
            let eval = try run.model.sequenceLogProbs(batch: batch, completionRanges: Self.ranges, adapter: run.adapter)
            #expect(maxAbsDiff(run.train.tokenLogProbs, eval.tokenLogProbs) > 1e-4)
            let zeros = [Float](repeating: 0, count: Self.weights.count)
            let other = try run.model.forwardBackward(
                batch: batch, completionRanges: Self.ranges, adapter: run.adapter, dropoutSeed: 12
            ) { _ in zeros }
            #expect(maxAbsDiff(run.train.tokenLogProbs, other.tokenLogProbs) > 1e-4)
        }

        /// The training forward with LoRA dropout (p 0.3, mask seed 11) on `spec`'s tiny model, its LoRA gradient
        /// checked by finite differences of that same masked forward at 30 coordinates: the worst
        /// |fd − analytic| / tolerance, with the model, the adapter and the masked forward's log-probs.
        static func dropoutCheck(_ spec: TinySpec) throws -> (worst: Double, model: LlamaModel, adapter: LoRAAdapter, train: SequenceLogProbs) {
            let (model, _) = try makeTinyModel(spec)
            let adapter = try makeAdapter(model, dropout: 0.3)
            let batch = PackedBatch(sequences: sequences)
            let zeros = [Float](repeating: 0, count: weights.count)
            adapter.zeroGradients()
            let train = try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter, dropoutSeed: 11) { _ in weights }
            let analytic = Array(adapter.gradients)
            let (worst, _) = try check(adapter: adapter, analytic: analytic, count: 30, seed: 6) {
                loss(try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter, dropoutSeed: 11) { _ in zeros })
            }
            return (worst, model, adapter, train)
        }
    }
}
