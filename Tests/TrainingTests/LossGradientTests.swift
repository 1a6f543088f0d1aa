// Finite-difference checks (central differences in Double) of every loss's analytic gradient w.r.t. every
// policy input: summed logps, ld_alpha tails and ORPO's whole-sequence sum; with every f-divergence and with WPO's
// (detached) weights.

import Foundation
import SeededRandom
import Testing
import Training

// MARK: - Random inputs

func randomInputs(seed: UInt64, pairs n: Int = 6) -> LossInputs {
    var g = SplitMix64(seed: seed)
    let cs = (0..<n).map { _ in Int.random(in: 2...9, using: &g) }
    let rs = (0..<n).map { _ in Int.random(in: 2...9, using: &g) }
    func logps(_ lengths: [Int]) -> [Double] { lengths.map { Double($0) * -Double.random(in: 0.2...1.5, using: &g) } }
    var inputs = LossInputs(
        policyChosen: logps(cs), policyRejected: logps(rs), referenceChosen: logps(cs), referenceRejected: logps(rs),
        chosenCompletionTokens: cs.map { $0 + 1 }, rejectedCompletionTokens: rs.map { $0 + 1 },
        chosenScoredTokens: cs, rejectedScoredTokens: rs)
    inputs.policyChosenTail = inputs.policyChosen.map { $0 * Double.random(in: 0...0.4, using: &g) }
    inputs.policyRejectedTail = inputs.policyRejected.map { $0 * Double.random(in: 0...0.4, using: &g) }
    inputs.referenceChosenTail = inputs.referenceChosen!.map { $0 * Double.random(in: 0...0.4, using: &g) }
    inputs.referenceRejectedTail = inputs.referenceRejected!.map { $0 * Double.random(in: 0...0.4, using: &g) }
    inputs.chosenSequenceTokens = cs.map { $0 + Int.random(in: 1...6, using: &g) }
    inputs.policyChosenSequence = zip(inputs.policyChosen, inputs.chosenSequenceTokens!).map { $0 - Double($1) * 0.7 }
    // WPO: Σ (log p − log Σ p²) per completion, a few tenths of a nat per token either way.
    inputs.chosenAlignedSums = cs.map { Double($0) * Double.random(in: -0.5...0.2, using: &g) }
    inputs.rejectedAlignedSums = rs.map { Double($0) * Double.random(in: -0.5...0.2, using: &g) }
    return inputs
}

// MARK: - Cases

struct GradientCase: CustomTestStringConvertible, Sendable {
    var losses: [WeightedLoss]
    var beta: Double
    var labelSmoothing: Double = 0
    var ldAlpha: Double?
    var fDivergence = FDivergence.reverseKL
    var alpha = 0.5
    var useWeighting = false
    var testDescription: String {
        losses.map { "\($0.kind.rawValue)×\($0.weight)" }.joined(separator: "+") + " β=\(beta)" + (ldAlpha.map { " ld=\($0)" } ?? "")
            + (fDivergence == .reverseKL ? "" : " \(fDivergence.rawValue)") + (fDivergence == .alphaDivergence ? " α=\(alpha)" : "")
            + (useWeighting ? " WPO" : "")
    }

    var config: LossConfig {
        var c = LossConfig(losses: losses, beta: beta, labelSmoothing: labelSmoothing, ldAlpha: ldAlpha, discopopTau: 0.3)
        c.fDivergence = fDivergence
        c.alphaDivergenceCoef = alpha
        c.useWeighting = useWeighting
        return c
    }

    static let all: [GradientCase] = {
        var out: [GradientCase] = []
        for kind in LossKind.allCases where !kind.isUnpaired {  // kto, apo_zero_unpaired: KTOTests.swift
            for beta in [0.1, 0.7] {
                let eps = [.exoPair, .robust, .aot, .aotUnpaired, .simpo].contains(kind) ? 0.15 : 0
                out.append(GradientCase(losses: [WeightedLoss(kind)], beta: beta, labelSmoothing: eps))
            }
        }
        out.append(GradientCase(losses: [WeightedLoss(.sigmoid), WeightedLoss(.sft, weight: 0.4)], beta: 0.3, ldAlpha: 0.5))
        out.append(GradientCase(losses: [WeightedLoss(.ipo), WeightedLoss(.apoDown, weight: 2)], beta: 0.2, ldAlpha: 0.2))
        out.append(GradientCase(losses: [WeightedLoss(.simpo), WeightedLoss(.orpo, weight: 0.5), WeightedLoss(.hinge, weight: 0.3)], beta: 0.4))
        // f-DPO on every loss that takes it, each divergence (α = 1 is reverse KL), with ld_alpha once.
        let fLosses: [[WeightedLoss]] = [
            [WeightedLoss(.sigmoid)], [WeightedLoss(.sigmoidNorm), WeightedLoss(.ipo, weight: 0.3), WeightedLoss(.sft, weight: 0.5)],
            [WeightedLoss(.exoPair), WeightedLoss(.robust, weight: 0.5), WeightedLoss(.discopop, weight: 2)], [WeightedLoss(.hinge)],
        ]
        for (f, a) in [(FDivergence.forwardKL, 0.5), (.jsDivergence, 0.5), (.alphaDivergence, 0.5), (.alphaDivergence, 1.7), (.alphaDivergence, 1)] {
            for l in fLosses {
                out.append(GradientCase(losses: l, beta: 0.3, labelSmoothing: 0.15, ldAlpha: l.count == 3 ? 0.4 : nil, fDivergence: f, alpha: a))
            }
        }
        // WPO on every loss it takes (sft and hinge too, which TRL 1.16 cannot run with it), alone and with f-DPO.
        for kind in LossKind.allCases where !kind.isUnpaired && ![.aot, .aotUnpaired, .simpo, .orpo].contains(kind) {
            let eps = [.exoPair, .robust].contains(kind) ? 0.15 : 0
            out.append(GradientCase(losses: [WeightedLoss(kind)], beta: 0.5, labelSmoothing: eps, useWeighting: true))
        }
        out.append(
            GradientCase(
                losses: [WeightedLoss(.sigmoid), WeightedLoss(.sft, weight: 0.5)], beta: 0.3, ldAlpha: 0.5, fDivergence: .jsDivergence,
                useWeighting: true))
        return out
    }()
}

// MARK: - Check

/// Central differences with h = 1e-5 on inputs of magnitude ~1-10; the truncation error is O(h²·f''') ≈ 1e-10 and
/// the rounding error ≈ 1e-16/h ≈ 1e-11, so atol 1e-7 + rtol 1e-5 leaves a wide margin while catching any wrong term.
@Test(arguments: GradientCase.all)
func analyticGradientMatchesFiniteDifferences(_ c: GradientCase) {
    let config = c.config
    for seed: UInt64 in [1, 2, 3] {
        let inputs = randomInputs(seed: seed)
        let g = DPOLoss.compute(inputs, config: config).gradient
        let h = 1e-5
        func numeric(_ set: (inout LossInputs, Double) -> Void) -> Double {
            var plus = inputs, minus = inputs
            set(&plus, h)
            set(&minus, -h)
            return (DPOLoss.compute(plus, config: config).loss - DPOLoss.compute(minus, config: config).loss) / (2 * h)
        }
        for i in 0..<inputs.count {
            let checks: [(String, Double, (inout LossInputs, Double) -> Void)] = [
                ("policyChosen", g.dPolicyChosen[i], { $0.policyChosen[i] += $1 }),
                ("policyRejected", g.dPolicyRejected[i], { $0.policyRejected[i] += $1 }),
                ("policyChosenTail", g.dPolicyChosenTail[i], { $0.policyChosenTail![i] += $1 }),
                ("policyRejectedTail", g.dPolicyRejectedTail[i], { $0.policyRejectedTail![i] += $1 }),
                ("policyChosenSequence", g.dPolicyChosenSequence[i], { $0.policyChosenSequence![i] += $1 }),
            ]
            for (name, analytic, set) in checks {
                let fd = numeric(set)
                #expect(abs(analytic - fd) <= 1e-7 + 1e-5 * abs(fd), "seed \(seed) pair \(i) d\(name): \(analytic) vs FD \(fd)")
            }
        }
    }
}
