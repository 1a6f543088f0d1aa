// The DPO loss family as pure functions of per-pair summed log-probs, each with its analytic gradient w.r.t. every
// policy input: TRL DPOTrainer's loss_type names (trl 1.16, dpo_trainer.py _compute_loss), plus CPO's `simpo`
// (trl/experimental/cpo) and `orpo` (trl/experimental/orpo). Model-free: the trainer backpropagates from these.

import Foundation

// MARK: - Configuration

/// A loss by TRL's name (`--loss`).
public enum LossKind: String, Sendable, Hashable, CaseIterable {
    case sigmoid, hinge, ipo
    case exoPair = "exo_pair"
    case ncaPair = "nca_pair"
    case robust
    case bcoPair = "bco_pair"
    case sppoHard = "sppo_hard"
    case aot
    case aotUnpaired = "aot_unpaired"
    case apoZero = "apo_zero"
    case apoDown = "apo_down"
    case discopop, sft
    case sigmoidNorm = "sigmoid_norm"
    /// Reference-free SimPO as TRL's CPOTrainer `loss_type="simpo"` (its CPO NLL term is `sft`, added separately).
    case simpo
    /// Reference-free ORPO as TRL's ORPOTrainer: NLL of the whole chosen sequence − λ·mean logσ(log-odds ratio).
    case orpo
    /// TRL's KTOTrainer on unpaired data (KTOLoss.swift): KTO with the batch's KL estimate, and APO-zero unpaired.
    case kto
    case apoZeroUnpaired = "apo_zero_unpaired"

    /// Whether the loss trains on unpaired examples (KTOLoss) rather than pairs (DPOLoss).
    public var isUnpaired: Bool { self == .kto || self == .apoZeroUnpaired }

    /// Whether the loss needs the reference model's log-probs.
    public var needsReference: Bool {
        switch self {
        case .sft, .simpo, .orpo: false
        default: true
        }
    }
}

/// TRL's `f_divergence_type`: the divergence whose f′ scores each log-ratio in the DPO losses (f-DPO).
public enum FDivergence: String, Sendable, Hashable, CaseIterable {
    case reverseKL = "reverse_kl"
    case forwardKL = "forward_kl"
    case jsDivergence = "js_divergence"
    case alphaDivergence = "alpha_divergence"

    /// The losses TRL allows with a divergence other than reverse KL (the others have no valid f-DPO form).
    public static let supportedLosses: Set<LossKind> = [.sigmoid, .sigmoidNorm, .hinge, .ipo, .exoPair, .robust, .discopop, .sft]
}

public struct WeightedLoss: Sendable, Hashable {
    public var kind: LossKind
    public var weight: Double

    public init(_ kind: LossKind, weight: Double = 1) {
        self.kind = kind
        self.weight = weight
    }
}

public struct LossConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Hyper-parameters of the loss; defaults are TRL's (DPOConfig, CPOConfig, ORPOConfig).
public struct LossConfig: Sendable {
    /// The total is Σ_k weight_k · mean over pairs of loss_k (TRL `loss_type` + `loss_weights`).
    public var losses: [WeightedLoss]
    public var beta: Double
    /// ε of robust, exo_pair, aot, aot_unpaired and simpo. TRL's current sigmoid ignores it.
    public var labelSmoothing: Double
    /// TRL `ld_alpha`: policy and reference logps become Σ_shared + ldAlpha·Σ_tail (reference-based losses only).
    public var ldAlpha: Double?
    public var discopopTau: Double
    /// SimPO's target margin γ (CPOConfig `simpo_gamma`); the margin in logit space is γ/β.
    public var simpoGamma: Double
    /// ORPO's λ (ORPOConfig `beta`).
    public var orpoLambda: Double
    /// KTO's weights of the desirable and undesirable examples' losses (KTOConfig).
    public var desirableWeight: Double
    public var undesirableWeight: Double
    /// TRL `f_divergence_type` and `f_alpha_divergence_coef`.
    public var fDivergence: FDivergence = .reverseKL
    public var alphaDivergenceCoef: Double = 0.5
    /// TRL `use_weighting` (WPO): each pair's loss × exp(mean aligned logp of chosen) · exp(… of rejected),
    /// detached; needs `LossInputs.chosenAlignedSums`/`rejectedAlignedSums`.
    public var useWeighting = false

    public init(
        losses: [WeightedLoss] = [WeightedLoss(.sigmoid)], beta: Double = 0.1, labelSmoothing: Double = 0,
        ldAlpha: Double? = nil, discopopTau: Double = 0.05, simpoGamma: Double = 0.5, orpoLambda: Double = 0.1,
        desirableWeight: Double = 1, undesirableWeight: Double = 1
    ) {
        self.desirableWeight = desirableWeight
        self.undesirableWeight = undesirableWeight
        self.losses = losses
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.ldAlpha = ldAlpha
        self.discopopTau = discopopTau
        self.simpoGamma = simpoGamma
        self.orpoLambda = orpoLambda
    }

    /// Whether any loss needs reference log-probs.
    public var needsReference: Bool { losses.contains { $0.kind.needsReference } }

    /// Checks what a user can get wrong (TRL raises or warns on the same conditions).
    public func validate() throws(LossConfigError) {
        func fail(_ m: String) -> LossConfigError { LossConfigError(message: m) }
        if losses.isEmpty { throw fail("at least one loss is needed") }
        for l in losses where !l.weight.isFinite {
            throw fail("the weight of loss '\(l.kind.rawValue)' must be finite, got \(l.weight)")
        }
        guard beta.isFinite, beta > 0 else { throw fail("beta must be > 0, got \(beta)") }
        let kinds = Set(losses.map(\.kind))
        if let u = losses.first(where: { $0.kind.isUnpaired }), losses.count > 1 {
            throw fail(
                "the '\(u.kind.rawValue)' loss trains on unpaired examples (TRL's KTOTrainer) and cannot be combined with other losses")
        }
        if kinds.contains(where: \.isUnpaired) {
            for (name, w) in [("desirable_weight", desirableWeight), ("undesirable_weight", undesirableWeight)] where !(w.isFinite && w >= 0) {
                throw fail("\(name) must be ≥ 0, got \(w)")
            }
        }
        guard labelSmoothing.isFinite, labelSmoothing >= 0, labelSmoothing < 1 else {
            throw fail("label smoothing must lie in [0, 1), got \(labelSmoothing)")
        }
        if kinds.contains(.robust), labelSmoothing >= 0.5 {
            throw fail("label smoothing must lie in [0, 0.5) for the 'robust' loss, got \(labelSmoothing)")
        }
        if kinds.contains(.exoPair), labelSmoothing == 0 {
            throw fail("the 'exo_pair' loss needs label smoothing > 0 (the EXO paper recommends 1e-3)")
        }
        if let a = ldAlpha, !(a >= 0 && a <= 1) { throw fail("ld_alpha must lie in [0, 1], got \(a)") }
        if kinds.contains(.discopop), !(discopopTau > 0 && discopopTau.isFinite) {
            throw fail("discopop tau must be > 0, got \(discopopTau)")
        }
        if kinds.contains(.simpo), !simpoGamma.isFinite { throw fail("simpo gamma must be finite, got \(simpoGamma)") }
        if kinds.contains(.orpo), !(orpoLambda.isFinite && orpoLambda >= 0) {
            throw fail("orpo lambda must be ≥ 0, got \(orpoLambda)")
        }
        if fDivergence != .reverseKL, !kinds.isSubset(of: FDivergence.supportedLosses) {
            let bad = losses.map(\.kind).filter { !FDivergence.supportedLosses.contains($0) }.map(\.rawValue)
            throw fail(
                "f_divergence_type '\(fDivergence.rawValue)' works only with "
                    + FDivergence.supportedLosses.map(\.rawValue).sorted().joined(separator: ", ")
                    + "; not with \(bad.joined(separator: ", ")) (use reverse_kl with those)")
        }
        if fDivergence == .alphaDivergence, !alphaDivergenceCoef.isFinite {
            throw fail("f_alpha_divergence_coef must be finite, got \(alphaDivergenceCoef)")
        }
        if useWeighting, kinds.contains(.aot) || kinds.contains(.aotUnpaired) {
            throw fail("use_weighting (WPO) does not work with 'aot' or 'aot_unpaired': they sort pairs, which misaligns the weights")
        }
        if useWeighting, kinds.contains(.simpo) || kinds.contains(.orpo) {
            throw fail("use_weighting (WPO) is a DPOTrainer option; 'simpo' and 'orpo' (CPO/ORPO trainers) do not take it")
        }
    }

    /// Parses `--loss sigmoid,sft` and `--loss-weights 1,0.5` (weights default to 1).
    public static func parseLosses(_ names: [String], weights: [Double]? = nil) throws(LossConfigError)
        -> [WeightedLoss]
    {
        if let weights, weights.count != names.count {
            throw LossConfigError(
                message: "\(weights.count) loss weights given for \(names.count) losses; give one weight per loss")
        }
        var out: [WeightedLoss] = []
        for (i, name) in names.enumerated() {
            guard let kind = LossKind(rawValue: name) else {
                throw LossConfigError(
                    message: "unknown loss '\(name)'; expected one of "
                        + LossKind.allCases.map(\.rawValue).joined(separator: ", "))
            }
            out.append(WeightedLoss(kind, weight: weights?[i] ?? 1))
        }
        return out
    }
}

// MARK: - Inputs and outputs

/// Per-pair quantities of one micro-batch of B pairs, all (B). Log-probs are sums over the scored completion
/// tokens (`TokenSequence.scoredTokens`, TRL's shifted completion mask).
public struct LossInputs: Sendable {
    public var policyChosen: [Double]
    public var policyRejected: [Double]
    /// Σ over the tail: scored completion tokens beyond `TokenizedPair.sharedScoredTokens`. Needed with `ldAlpha`.
    public var policyChosenTail: [Double]?
    public var policyRejectedTail: [Double]?
    /// The reference model's sums over the same tokens; needed by every loss whose `needsReference` is true.
    public var referenceChosen: [Double]?
    public var referenceRejected: [Double]?
    public var referenceChosenTail: [Double]?
    public var referenceRejectedTail: [Double]?
    /// `TokenSequence.completionTokens` (ipo, sigmoid_norm divide by it, clamped to ≥ 1).
    public var chosenCompletionTokens: [Int]
    public var rejectedCompletionTokens: [Int]
    /// `TokenSequence.scoredTokens` (sft, simpo and orpo average over them).
    public var chosenScoredTokens: [Int]
    public var rejectedScoredTokens: [Int]
    /// orpo only: Σ log πθ over every predicted position 1..<T of the chosen sequence (prompt included), and T-1.
    public var policyChosenSequence: [Double]?
    public var chosenSequenceTokens: [Int]?
    /// Metrics only: Σ over scored completion tokens of the vocabulary-mean logit at the scoring position.
    public var chosenLogitSums: [Double]?
    public var rejectedLogitSums: [Double]?
    /// Metrics only: Σ over scored completion tokens of the next-token entropy, and (chosen) the count of
    /// those tokens whose target is the argmax.
    public var chosenEntropySums: [Double]?
    public var rejectedEntropySums: [Double]?
    public var chosenTop1: [Int]?
    /// WPO (`useWeighting`): Σ over scored completion tokens of log p − log Σ_v p², from the policy's head.
    public var chosenAlignedSums: [Double]?
    public var rejectedAlignedSums: [Double]?
    /// Metrics only (`--kl-estimate`): Σ over scored completion tokens of KL(πθ ‖ πref) of the next-token
    /// distributions.
    public var chosenKLSums: [Double]?
    public var rejectedKLSums: [Double]?

    public init(
        policyChosen: [Double], policyRejected: [Double],
        referenceChosen: [Double]? = nil, referenceRejected: [Double]? = nil,
        chosenCompletionTokens: [Int], rejectedCompletionTokens: [Int],
        chosenScoredTokens: [Int], rejectedScoredTokens: [Int]
    ) {
        self.policyChosen = policyChosen
        self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.chosenCompletionTokens = chosenCompletionTokens
        self.rejectedCompletionTokens = rejectedCompletionTokens
        self.chosenScoredTokens = chosenScoredTokens
        self.rejectedScoredTokens = rejectedScoredTokens
    }

    /// Lengths (and orpo's sequence token counts) taken from the tokenized pairs of the micro-batch.
    public init(
        pairs: some Collection<TokenizedPair>, policyChosen: [Double], policyRejected: [Double],
        referenceChosen: [Double]? = nil, referenceRejected: [Double]? = nil
    ) {
        self.init(
            policyChosen: policyChosen, policyRejected: policyRejected,
            referenceChosen: referenceChosen, referenceRejected: referenceRejected,
            chosenCompletionTokens: pairs.map(\.chosen.completionTokens),
            rejectedCompletionTokens: pairs.map(\.rejected.completionTokens),
            chosenScoredTokens: pairs.map(\.chosen.scoredTokens),
            rejectedScoredTokens: pairs.map(\.rejected.scoredTokens))
        chosenSequenceTokens = pairs.map { max(0, $0.chosen.ids.count - 1) }
    }

    public var count: Int { policyChosen.count }
}

/// ∂loss/∂ each policy input, per pair (B). The gradient of one token's log-prob is the sum of the entries whose
/// sums contain it: `tokenGradients` spells that out.
public struct LossGradient: Sendable, Equatable {
    /// ∂L/∂policyChosen[i]: every scored chosen completion token of pair i.
    public var dPolicyChosen: [Double]
    public var dPolicyRejected: [Double]
    /// ∂L/∂policyChosenTail[i]: added for tail tokens (all zero without `ldAlpha`).
    public var dPolicyChosenTail: [Double]
    public var dPolicyRejectedTail: [Double]
    /// ∂L/∂policyChosenSequence[i]: added for every predicted position of the chosen sequence (orpo only).
    public var dPolicyChosenSequence: [Double]

    /// ∂L/∂log p(token j+1 | tokens ≤ j) for j in 0..<T-1 of pair i's chosen or rejected sequence.
    public func tokenGradients(pair i: Int, chosen: Bool, sequence: TokenSequence, sharedScoredTokens: Int) -> [Double] {
        let t = sequence.ids.count
        guard t > 1 else { return [] }
        var out = [Double](repeating: chosen ? dPolicyChosenSequence[i] : 0, count: t - 1)
        let base = chosen ? dPolicyChosen[i] : dPolicyRejected[i]
        let tail = chosen ? dPolicyChosenTail[i] : dPolicyRejectedTail[i]
        var k = 0  // 1-based rank of the scored completion token, TRL's comp_pos
        for j in 0..<(t - 1) where j + 1 >= sequence.completionStart {
            k += 1
            out[j] += base + (k > sharedScoredTokens ? tail : 0)
        }
        return out
    }
}

public struct LossResult: Sendable {
    /// Σ_k weight_k · terms[k].
    public var loss: Double
    /// Each configured loss's mean over the pairs, unweighted, in configuration order.
    public var terms: [Double]
    public var gradient: LossGradient
    /// This micro-batch's TRL metrics (see Metrics.swift for the names).
    public var metrics: [String: Double]
}

// MARK: - Loss

public enum DPOLoss {
    /// The loss of one micro-batch, its gradient and its metrics. Missing inputs that the configuration needs are
    /// programmer errors (precondition); validate the configuration with `LossConfig.validate()` first.
    public static func compute(_ inputs: LossInputs, config: LossConfig) -> LossResult {
        let n = inputs.count
        precondition(n > 0, "empty micro-batch")
        for c in [
            inputs.policyRejected.count, inputs.chosenCompletionTokens.count, inputs.rejectedCompletionTokens.count,
            inputs.chosenScoredTokens.count, inputs.rejectedScoredTokens.count,
        ] {
            precondition(c == n, "every per-pair input needs \(n) entries")
        }
        let beta = config.beta
        let eps = config.labelSmoothing
        let invN = 1 / Double(n)

        // Effective logps (ld_alpha: Σ_shared + α·Σ_tail = Σ + (α−1)·Σ_tail) and the log-ratios.
        let tailFactor = config.ldAlpha.map { $0 - 1 }
        func effective(_ sums: [Double], _ tails: [Double]?, _ name: String) -> [Double] {
            guard let f = tailFactor else { return sums }
            guard let tails, tails.count == n else { preconditionFailure("ldAlpha needs \(name) tail sums for every pair") }
            return zip(sums, tails).map { $0 + f * $1 }
        }
        let pc = effective(inputs.policyChosen, inputs.policyChosenTail, "policyChosen")
        let pr = effective(inputs.policyRejected, inputs.policyRejectedTail, "policyRejected")
        var rc: [Double] = []  // reference logps (B)
        var rr: [Double] = []
        var lc: [Double] = []  // chosen log-ratios log πθ − log πref (B)
        var lr: [Double] = []
        let hasReference = inputs.referenceChosen != nil && inputs.referenceRejected != nil
        if hasReference {
            rc = effective(inputs.referenceChosen!, inputs.referenceChosenTail, "referenceChosen")
            rr = effective(inputs.referenceRejected!, inputs.referenceRejectedTail, "referenceRejected")
            precondition(rc.count == n && rr.count == n, "every per-pair input needs \(n) entries")
            lc = zip(pc, rc).map { $0 - $1 }
            lr = zip(pr, rr).map { $0 - $1 }
        }
        precondition(hasReference || !config.needsReference, "the configured losses need reference log-probs")

        // f-DPO scores (dt 1353-1381): sc = f′-score of lc with its derivative fc (reverse KL: lc and 1).
        let (sc, fc) = hasReference ? fScores(lc, config) : ([], [])
        let (sr, fr) = hasReference ? fScores(lr, config) : ([], [])

        // WPO weights (dt 1518-1526), detached: exp(Σ aligned / scored tokens) of chosen × the same of rejected.
        var pw = [Double](repeating: 1, count: n)
        if config.useWeighting {
            guard let ca = inputs.chosenAlignedSums, let ra = inputs.rejectedAlignedSums, ca.count == n, ra.count == n else {
                preconditionFailure("use_weighting needs chosenAlignedSums and rejectedAlignedSums for every pair")
            }
            for i in 0..<n {
                pw[i] =
                    exp(ca[i] / Double(max(inputs.chosenScoredTokens[i], 1)))
                    * exp(ra[i] / Double(max(inputs.rejectedScoredTokens[i], 1)))
            }
        }
        let meanWeight = pw.reduce(0, +) * invN

        // Length-averaged raw logps (simpo, orpo: CPO/ORPO get_batch_logps(average_log_prob=True)).
        let avgC = zip(inputs.policyChosen, inputs.chosenScoredTokens).map { $0 / Double($1) }
        let avgR = zip(inputs.policyRejected, inputs.rejectedScoredTokens).map { $0 / Double($1) }

        // Gradient accumulators: w.r.t. effective logps (reference-based losses) and raw sums (sft, simpo, orpo).
        var dEffC = [Double](repeating: 0, count: n)
        var dEffR = [Double](repeating: 0, count: n)
        var dRawC = [Double](repeating: 0, count: n)
        var dRawR = [Double](repeating: 0, count: n)
        var dSeq = [Double](repeating: 0, count: n)
        var terms: [Double] = []
        var metrics: [String: Double] = [:]
        var total = 0.0

        for (kind, weight) in config.losses.map({ ($0.kind, $0.weight) }) {
            let s = weight * invN  // ∂(weight · mean)/∂(per-pair loss)
            var sum = 0.0  // Σ over pairs of the per-pair loss (or the batch value for sft)
            switch kind {
            case .kto, .apoZeroUnpaired:
                preconditionFailure("'\(kind.rawValue)' is an unpaired loss: KTOLoss computes it")
            case .sigmoid:
                // per_sequence_loss = -F.logsigmoid(beta * delta_score)
                for i in 0..<n {
                    let z = beta * (sc[i] - sr[i])
                    sum += pw[i] * (softplus(-z))
                    let g = s * pw[i] * -beta * sigmoid(-z)
                    dEffC[i] += g * fc[i]
                    dEffR[i] -= g * fr[i]
                }
            case .hinge:
                // torch.relu(1 - beta * delta_score); relu'(0) = 0
                for i in 0..<n {
                    let h = 1 - beta * (sc[i] - sr[i])
                    sum += pw[i] * (max(0, h))
                    let g = h > 0 ? s * pw[i] * -beta : 0
                    dEffC[i] += g * fc[i]
                    dEffR[i] -= g * fr[i]
                }
            case .ipo, .sigmoidNorm:
                // chosen_avg_score = chosen_scores / chosen_mask.sum(dim=1).clamp(min=1.0)
                for i in 0..<n {
                    let nc = Double(max(inputs.chosenCompletionTokens[i], 1))
                    let nr = Double(max(inputs.rejectedCompletionTokens[i], 1))
                    let d = sc[i] / nc - sr[i] / nr
                    let g: Double
                    if kind == .ipo {
                        // (ipo_delta - 1 / (2 * beta)) ** 2
                        let e = d - 1 / (2 * beta)
                        sum += pw[i] * (e * e)
                        g = s * pw[i] * 2 * e
                    } else {
                        // -F.logsigmoid(beta * delta)
                        sum += pw[i] * (softplus(-beta * d))
                        g = s * pw[i] * -beta * sigmoid(-beta * d)
                    }
                    dEffC[i] += g * fc[i] / nc
                    dEffR[i] -= g * fr[i] / nr
                }
            case .exoPair:
                // qw*(log_qw - log(1-ε)) + ql*(log_ql - log ε); d/dz = σ(z)σ(-z)·(z - log(1-ε) + log ε)
                let logPw = log1p(-eps)
                let logPl = log(eps)
                for i in 0..<n {
                    let z = beta * (sc[i] - sr[i])
                    let qw = sigmoid(z)
                    let ql = sigmoid(-z)
                    sum += pw[i] * (qw * (-softplus(-z) - logPw) + ql * (-softplus(z) - logPl))
                    let g = s * pw[i] * beta * qw * ql * (z - logPw + logPl)
                    dEffC[i] += g * fc[i]
                    dEffR[i] -= g * fr[i]
                }
            case .ncaPair:
                // -logσ(rc) - 0.5 logσ(-rc) - 0.5 logσ(-rr), rewards r = beta * logratio
                for i in 0..<n {
                    let wc = beta * lc[i]
                    let wr = beta * lr[i]
                    sum += pw[i] * (softplus(-wc) + 0.5 * softplus(wc) + 0.5 * softplus(wr))
                    dEffC[i] += s * pw[i] * beta * (-sigmoid(-wc) + 0.5 * sigmoid(wc))
                    dEffR[i] += s * pw[i] * beta * 0.5 * sigmoid(wr)
                }
            case .robust:
                // (-(1-ε) logσ(z) + ε logσ(-z)) / (1 - 2ε)
                for i in 0..<n {
                    let z = beta * (sc[i] - sr[i])
                    sum += pw[i] * (((1 - eps) * softplus(-z) - eps * softplus(z)) / (1 - 2 * eps))
                    let g = s * pw[i] * beta * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z)) / (1 - 2 * eps)
                    dEffC[i] += g * fc[i]
                    dEffR[i] -= g * fr[i]
                }
            case .bcoPair:
                // -logσ(rc) - logσ(-rr)
                for i in 0..<n {
                    let wc = beta * lc[i]
                    let wr = beta * lr[i]
                    sum += pw[i] * (softplus(-wc) + softplus(wr))
                    dEffC[i] += s * pw[i] * beta * -sigmoid(-wc)
                    dEffR[i] += s * pw[i] * beta * sigmoid(wr)
                }
            case .sppoHard:
                // (lc - 0.5/beta)^2 + (lr + 0.5/beta)^2
                for i in 0..<n {
                    let a = lc[i] - 0.5 / beta
                    let b = lr[i] + 0.5 / beta
                    sum += pw[i] * (a * a + b * b)
                    dEffC[i] += s * pw[i] * 2 * a
                    dEffR[i] += s * pw[i] * 2 * b
                }
            case .aot, .aotUnpaired:
                // Sorted (ascending) differences; each sorted slot's gradient goes back to the pair it came from.
                // aot: sort(πc−πr) − sort(ρc−ρr); aot_unpaired: sort(lc) − sort(lr).
                let (x, y): ([Double], [Double])
                if kind == .aot {
                    x = zip(pc, pr).map { $0 - $1 }
                    y = zip(rc, rr).map { $0 - $1 }
                } else {
                    x = lc
                    y = lr
                }
                let px = x.indices.sorted { x[$0] < x[$1] || (x[$0] == x[$1] && $0 < $1) }
                let py = y.indices.sorted { y[$0] < y[$1] || (y[$0] == y[$1] && $0 < $1) }
                for j in 0..<n {
                    let z = beta * (x[px[j]] - y[py[j]])
                    sum += (1 - eps) * softplus(-z) + eps * softplus(z)
                    let g = s * beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z))
                    if kind == .aot {
                        dEffC[px[j]] += g  // x = πc − πr; y does not depend on the policy
                        dEffR[px[j]] -= g
                    } else {
                        dEffC[px[j]] += g
                        dEffR[py[j]] -= g
                    }
                }
            case .apoZero:
                // (1 - σ(β lc)) + σ(β lr)
                for i in 0..<n {
                    let a = sigmoid(beta * lc[i])
                    let b = sigmoid(beta * lr[i])
                    sum += pw[i] * (1 - a + b)
                    dEffC[i] += s * pw[i] * -beta * a * (1 - a)
                    dEffR[i] += s * pw[i] * beta * b * (1 - b)
                }
            case .apoDown:
                // σ(β lc) + (1 - σ(β (lc - lr)))
                for i in 0..<n {
                    let a = sigmoid(beta * lc[i])
                    let c = sigmoid(beta * (lc[i] - lr[i]))
                    sum += pw[i] * (a + 1 - c)
                    dEffC[i] += s * pw[i] * beta * (a * (1 - a) - c * (1 - c))
                    dEffR[i] += s * pw[i] * beta * c * (1 - c)
                }
            case .discopop:
                // logits = βΔ; m = σ(logits/τ); -logσ(logits)·(1 - m) + exp(-logits)·m
                let tau = config.discopopTau
                for i in 0..<n {
                    let z = beta * (sc[i] - sr[i])
                    let m = sigmoid(z / tau)
                    let sp = softplus(-z)
                    let e = exp(-z)
                    sum += pw[i] * (sp * (1 - m) + e * m)
                    let dm = m * (1 - m) / tau
                    let g = s * pw[i] * beta * (-sigmoid(-z) * (1 - m) - sp * dm - e * m + e * dm)
                    dEffC[i] += g * fc[i]
                    dEffR[i] -= g * fr[i]
                }
            case .sft:
                // -chosen_per_token_logps[chosen_mask].mean(): one token-mean over the whole micro-batch.
                let tokens = inputs.chosenScoredTokens.reduce(0, +)
                let value = tokens > 0 ? -inputs.policyChosen.reduce(0, +) / Double(tokens) : 0
                // TRL expands the scalar to every pair before the mean (and WPO weighs each copy)
                sum = config.useWeighting ? value * meanWeight * Double(n) : value * Double(n)
                if tokens > 0 {
                    let w = config.useWeighting ? weight * meanWeight : weight
                    for i in 0..<n { dRawC[i] += w * -1 / Double(tokens) }
                }
                metrics[MetricKey.nllLoss] = value
            case .simpo:
                // logits = avg_c - avg_r - γ/β; -(1-ε) logσ(β logits) - ε logσ(-β logits)
                let margin = config.simpoGamma / beta
                for i in 0..<n {
                    let z = beta * (avgC[i] - avgR[i] - margin)
                    sum += (1 - eps) * softplus(-z) + eps * softplus(z)
                    let g = s * beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z))
                    dRawC[i] += g / Double(inputs.chosenScoredTokens[i])
                    dRawR[i] -= g / Double(inputs.rejectedScoredTokens[i])
                }
            case .orpo:
                // loss = nll − mean(λ·logσ(log_odds)); log_odds = (a_c − a_r) − (log1mexp(a_c) − log1mexp(a_r))
                guard let seq = inputs.policyChosenSequence, let seqTokens = inputs.chosenSequenceTokens,
                    seq.count == n, seqTokens.count == n
                else { preconditionFailure("orpo needs policyChosenSequence and chosenSequenceTokens for every pair") }
                let lambda = config.orpoLambda
                let tokens = seqTokens.reduce(0, +)
                let nll = tokens > 0 ? -seq.reduce(0, +) / Double(tokens) : 0
                var ratioSum = 0.0
                var logOddsSum = 0.0
                for i in 0..<n {
                    let lo = (avgC[i] - avgR[i]) - (log1mexp(avgC[i]) - log1mexp(avgR[i]))
                    let ratio = -softplus(-lo)
                    ratioSum += ratio
                    logOddsSum += lo
                    sum += -lambda * ratio
                    let g = s * -lambda * sigmoid(-lo)  // ∂/∂log_odds
                    dRawC[i] += g * (-1 / expm1(avgC[i])) / Double(inputs.chosenScoredTokens[i])
                    dRawR[i] += g * (1 / expm1(avgR[i])) / Double(inputs.rejectedScoredTokens[i])
                    if tokens > 0 { dSeq[i] += weight * -1 / Double(tokens) }
                }
                sum += nll * Double(n)
                if !config.losses.contains(where: { $0.kind == .sft }) { metrics[MetricKey.nllLoss] = nll }
                metrics[MetricKey.logOddsRatio] = ratioSum * invN
                metrics[MetricKey.logOddsChosen] = logOddsSum * invN
            }
            let mean = sum * invN
            terms.append(mean)
            total += weight * mean
        }

        var gradient = LossGradient(
            dPolicyChosen: zip(dEffC, dRawC).map { $0 + $1 },
            dPolicyRejected: zip(dEffR, dRawR).map { $0 + $1 },
            dPolicyChosenTail: [Double](repeating: 0, count: n),
            dPolicyRejectedTail: [Double](repeating: 0, count: n),
            dPolicyChosenSequence: dSeq)
        if let f = tailFactor {
            gradient.dPolicyChosenTail = dEffC.map { f * $0 }
            gradient.dPolicyRejectedTail = dEffR.map { f * $0 }
        }

        // Metrics (dt 1633-1653): rewards from the reference when there is one, else CPO/ORPO's β·avg logps.
        let chosenRewards: [Double], rejectedRewards: [Double]
        if hasReference {
            chosenRewards = lc.map { beta * $0 }
            rejectedRewards = lr.map { beta * $0 }
            metrics.merge(
                Metrics.rewardMetrics(
                    chosenRewards: chosenRewards, rejectedRewards: rejectedRewards, chosenLogps: pc, rejectedLogps: pr)
            ) { $1 }
            // Drift from the reference, per token: the raw sums (no ld_alpha), over the scored completion tokens.
            metrics[MetricKey.logratioChosen] = Metrics.tokenMean(
                zip(inputs.policyChosen, inputs.referenceChosen!).map { $0 - $1 }, inputs.chosenScoredTokens)
            metrics[MetricKey.logratioRejected] = Metrics.tokenMean(
                zip(inputs.policyRejected, inputs.referenceRejected!).map { $0 - $1 }, inputs.rejectedScoredTokens)
        } else {
            let firstFree = config.losses.first { !$0.kind.needsReference && $0.kind != .sft }?.kind
            let scale = firstFree == .orpo ? config.orpoLambda : beta
            chosenRewards = avgC.map { scale * $0 }
            rejectedRewards = avgR.map { scale * $0 }
            metrics.merge(
                Metrics.rewardMetrics(
                    chosenRewards: chosenRewards, rejectedRewards: rejectedRewards, chosenLogps: avgC, rejectedLogps: avgR)
            ) { $1 }
        }
        if let c = inputs.chosenLogitSums, let r = inputs.rejectedLogitSums {
            metrics[MetricKey.logitsChosen] = Metrics.tokenMean(c, inputs.chosenScoredTokens)
            metrics[MetricKey.logitsRejected] = Metrics.tokenMean(r, inputs.rejectedScoredTokens)
        }
        if let c = inputs.chosenEntropySums, let r = inputs.rejectedEntropySums {
            metrics[MetricKey.entropy] = Metrics.tokenMean(c + r, inputs.chosenScoredTokens + inputs.rejectedScoredTokens)
        }
        if let c = inputs.chosenKLSums, let r = inputs.rejectedKLSums {
            metrics[MetricKey.kl] = Metrics.tokenMean(c + r, inputs.chosenScoredTokens + inputs.rejectedScoredTokens)
        }
        if let top1 = inputs.chosenTop1 {
            metrics[MetricKey.meanTokenAccuracy] = Metrics.tokenMean(top1.map(Double.init), inputs.chosenScoredTokens)
        }
        metrics.merge(
            Metrics.lengthMetrics(
                chosenLengths: inputs.chosenCompletionTokens, rejectedLengths: inputs.rejectedCompletionTokens,
                margins: zip(chosenRewards, rejectedRewards).map { $0 - $1 })
        ) { $1 }
        return LossResult(loss: total, terms: terms, gradient: gradient, metrics: metrics)
    }

    // MARK: - f-divergences

    /// TRL 1.16's f′ scores of log-ratios and their derivatives: reverse KL l; forward KL 1 − e^(−l);
    /// JS log 2 + logσ(l); α-divergence (e^((α−1)·l) − 1)/(α−1) with (α−1)·l clamped at 80 (no gradient
    /// past the clamp, as torch.clamp), reverse KL when |α − 1| < 1e-6.
    static func fScores(_ l: [Double], _ config: LossConfig) -> (scores: [Double], derivatives: [Double]) {
        switch config.fDivergence {
        case .reverseKL:
            return (l, l.map { _ in 1 })
        case .forwardKL:
            return (l.map { 1 - exp(-$0) }, l.map { exp(-$0) })
        case .jsDivergence:
            return (l.map { log(2) - softplus(-$0) }, l.map { sigmoid(-$0) })
        case .alphaDivergence:
            let a = config.alphaDivergenceCoef
            if abs(a - 1) < 1e-6 { return (l, l.map { _ in 1 }) }
            let coef = 1 / (a - 1)
            var scores: [Double] = [], derivatives: [Double] = []
            for x in l {
                let t = (a - 1) * x
                let e = exp(min(t, 80))
                scores.append((e - 1) * coef)
                derivatives.append(t > 80 ? 0 : e)
            }
            return (scores, derivatives)
        }
    }

    // MARK: - Stable scalar functions

    /// log(1 + e^x) without overflow; −logσ(x) = softplus(−x).
    @inline(__always) static func softplus(_ x: Double) -> Double {
        max(x, 0) + log1p(exp(-abs(x)))
    }

    @inline(__always) static func sigmoid(_ x: Double) -> Double {
        if x >= 0 { return 1 / (1 + exp(-x)) }
        let e = exp(x)
        return e / (1 + e)
    }

    /// log(1 − e^x) for x < 0, branching at −ln 2 like TRL's `log1mexp`.
    @inline(__always) static func log1mexp(_ x: Double) -> Double {
        x < -0.6931471805599453 ? log1p(-exp(x)) : log(-expm1(x))
    }
}
