// Finite-difference check of the WHOLE DPO loss as the trainer computes it: tokenized pairs packed by
// PairBatch, reference sums from PairScoring, DPOLoss on Trainer.lossInputs, token gradients from
// PairBatch.tokenGradients, and model.forwardBackward's LoRA gradients, on a tiny random model.

import Foundation
import Model
import SeededRandom
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite struct WholeLossGradient {
        /// Loss settings whose gradients take different routes: reference-based with and without LD tails,
        /// length-normalized, a weighted mix, reference-free, and orpo's whole-sequence scoring.
        static let configs: [(name: String, config: LossConfig)] = [
            ("sigmoid", LossConfig(losses: [WeightedLoss(.sigmoid)], beta: 1)),
            ("ipo+ld_alpha", LossConfig(losses: [WeightedLoss(.ipo)], beta: 0.5, ldAlpha: 0.3)),
            ("robust+sft", LossConfig(losses: [WeightedLoss(.robust), WeightedLoss(.sft, weight: 0.5)], beta: 1, labelSmoothing: 0.2)),
            ("simpo", LossConfig(losses: [WeightedLoss(.simpo)], beta: 2, simpoGamma: 0.5)),
            ("orpo", LossConfig(losses: [WeightedLoss(.orpo)], orpoLambda: 0.5)),
        ]

        @Test(arguments: configs.indices)
        func wholeLossGradientMatchesFiniteDifferences(index: Int) throws {
            let (name, config) = Self.configs[index]
            let f = try TrainerFixture()
            // Pairs of different lengths (so the LD tails and length normalizations differ per pair).
            let data = try PreferenceDataset.load(path: f.dataPath, context: ByteToy.context, options: DataOptions(maxLength: 64))
            let pairs = Array(data.pairs.prefix(3))
            #expect(Set(pairs.map(\.chosen.ids.count)).count > 1 || Set(pairs.map(\.rejected.ids.count)).count > 1)
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4), modelConfig: f.model.config, seed: 3)
            var rng = Xoshiro256(seed: 4)
            for e in adapter.entries {
                for i in 0..<(e.outFeatures * adapter.rank) { adapter.b(e)[i] = 0.3 * (2 * rng.nextUnitFloat() - 1) }
            }
            let pb = PairBatch(pairs: pairs, wholeChosen: config.losses.contains { $0.kind == .orpo })
            let reference = config.needsReference ? try PairScoring.score(pairs, model: f.model, adapter: nil).0 : nil

            func loss() throws -> Double {
                let lp = try f.model.sequenceLogProbs(batch: pb.batch, completionRanges: pb.ranges, adapter: adapter)
                return DPOLoss.compute(Trainer.lossInputs(pb, lp, reference), config: config).loss
            }

            adapter.zeroGradients()
            var analyticLoss = Double.nan
            try f.model.forwardBackward(batch: pb.batch, completionRanges: pb.ranges, adapter: adapter) { lp in
                let r = DPOLoss.compute(Trainer.lossInputs(pb, lp, reference), config: config)
                analyticLoss = r.loss
                return pb.tokenGradients(r.gradient, scale: 1)
            }
            #expect(abs(analyticLoss - (try loss())) <= 1e-6 * max(1, abs(analyticLoss)), "\(name): training and inference losses agree")
            let analytic = Array(adapter.gradients)
            let scale = analytic.reduce(Float(0)) { max($0, abs($1)) }
            #expect(scale > 0, "\(name): gradient is nonzero")

            // Central differences at 48 parameters, half in A and half in B, spread over all entries.
            // eps 1e-2 on parameters of size O(0.3): truncation O(eps²) ≈ 1e-4 relative; each loss is a sum of
            // f32 log-probs (≈ 1e-6 rounding each, ~60 tokens), so the quotient carries ≲ 1e-4·scale noise.
            // Tolerance |fd − an| ≤ 2e-3·max|an| + 2e-2·|an|; a wrong factor or a dropped term is O(|an|).
            let eps: Float = 1e-2
            var worst = 0.0
            for i in 0..<48 {
                let e = adapter.entries[Int(rng.next() % UInt64(adapter.entries.count))]
                let inA = i % 2 == 0
                let n = inA ? adapter.rank * e.inFeatures : e.outFeatures * adapter.rank
                let idx = (inA ? e.offsetA : e.offsetB) + Int(rng.next() % UInt64(n))
                let fd = try centralDifference(adapter.parameters, at: idx, eps: eps, loss)
                let an = Double(analytic[idx])
                let ratio = abs(fd - an) / (2e-3 * Double(scale) + 2e-2 * abs(an))
                if ratio > 1 { print("\(name): parameter \(idx): analytic \(an), finite difference \(fd)") }
                worst = max(worst, ratio)
            }
            #expect(worst <= 1, "\(name): worst |fd − analytic| / tolerance = \(worst)")
        }
    }
}
