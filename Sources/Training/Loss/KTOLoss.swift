// The unpaired losses of TRL 1.16's KTOTrainer (kto_trainer.py _compute_loss): `kto` (KTO paper eq. 7, with
// the batch's detached KL estimate) and `apo_zero_unpaired`, with their analytic gradient w.r.t. each
// example's summed completion log-prob and TRL's KTO metrics. Model-free, like DPOLoss.

import Foundation

/// Per-example quantities of one micro-batch of B examples, all (B).
public struct KTOInputs: Sendable {
    /// Σ log πθ over each example's scored completion tokens, and the reference's over the same tokens.
    public var policy: [Double]
    public var reference: [Double]
    /// The same sums for the KL sequence (prompt i + the completion before it in the batch); needed by `kto`.
    public var policyKL: [Double]?
    public var referenceKL: [Double]?
    /// true: desirable (TRL's "chosen"), false: undesirable ("rejected").
    public var labels: [Bool]
    /// Metrics only: Σ of the vocabulary-mean logit over each example's scored tokens, and how many they are.
    public var logitSums: [Double]?
    public var scoredTokens: [Int]?

    public init(policy: [Double], reference: [Double], policyKL: [Double]? = nil, referenceKL: [Double]? = nil, labels: [Bool]) {
        self.policy = policy
        self.reference = reference
        self.policyKL = policyKL
        self.referenceKL = referenceKL
        self.labels = labels
    }

    public var count: Int { policy.count }
}

public struct KTOResult: Sendable {
    public var loss: Double
    /// ∂loss/∂policy[i]. The KL estimate is detached (TRL's `.detach()`), so the KL sequences get no gradient.
    public var dPolicy: [Double]
    /// The batch's KL estimate: max(0, mean(policyKL − referenceKL)); 0 without the KL term.
    public var kl: Double
    public var metrics: [String: Double]
}

public enum KTOLoss {
    /// Whether `kind` needs the KL sequences (TRL's `calculate_KL`: every unpaired loss but apo_zero_unpaired).
    public static func needsKL(_ kind: LossKind) -> Bool { kind == .kto }

    /// The loss of one micro-batch: mean over all B examples of weight_label · loss_i (TRL's
    /// `torch.cat((desirable_weight * chosen_losses, undesirable_weight * rejected_losses)).nanmean()`).
    public static func compute(_ inputs: KTOInputs, config: LossConfig) -> KTOResult {
        let n = inputs.count
        precondition(n > 0, "empty micro-batch")
        precondition(inputs.reference.count == n && inputs.labels.count == n, "every per-example input needs \(n) entries")
        guard let kind = config.losses.first?.kind, config.losses.count == 1, kind.isUnpaired else {
            preconditionFailure("KTOLoss takes exactly one unpaired loss")
        }
        let beta = config.beta
        var kl = 0.0
        if needsKL(kind) {
            guard let q = inputs.policyKL, let s = inputs.referenceKL, q.count == n, s.count == n else {
                preconditionFailure("kto needs the KL sequences' policy and reference sums")
            }
            // kl = (KL_logps - ref_KL_logps).mean().detach() ... .clamp(min=0)
            kl = max(0, zip(q, s).reduce(0) { $0 + ($1.0 - $1.1) } / Double(n))
        }
        let invN = 1 / Double(n)
        var loss = 0.0
        var dPolicy = [Double](repeating: 0, count: n)
        var chosenReward = 0.0, rejectedReward = 0.0, chosenLogps = 0.0, rejectedLogps = 0.0
        var numChosen = 0
        for i in 0..<n {
            let logratio = inputs.policy[i] - inputs.reference[i]
            let w = inputs.labels[i] ? config.desirableWeight : config.undesirableWeight
            let (value, dValue): (Double, Double)  // the per-example loss and its derivative w.r.t. logratio
            switch (kind, inputs.labels[i]) {
            case (.kto, true):
                // 1 - sigmoid(beta * (chosen_logratios - kl))
                let a = DPOLoss.sigmoid(beta * (logratio - kl))
                (value, dValue) = (1 - a, -beta * a * (1 - a))
            case (.kto, false):
                // 1 - sigmoid(beta * (kl - rejected_logratios))
                let a = DPOLoss.sigmoid(beta * (kl - logratio))
                (value, dValue) = (1 - a, beta * a * (1 - a))
            case (_, true):
                // apo_zero_unpaired: 1 - sigmoid(beta * chosen_logratios)
                let a = DPOLoss.sigmoid(beta * logratio)
                (value, dValue) = (1 - a, -beta * a * (1 - a))
            case (_, false):
                // apo_zero_unpaired: sigmoid(beta * rejected_logratios)
                let a = DPOLoss.sigmoid(beta * logratio)
                (value, dValue) = (a, beta * a * (1 - a))
            }
            loss += w * value * invN
            dPolicy[i] = w * dValue * invN
            if inputs.labels[i] {
                numChosen += 1
                chosenReward += beta * logratio
                chosenLogps += inputs.policy[i]
            } else {
                rejectedReward += beta * logratio
                rejectedLogps += inputs.policy[i]
            }
        }
        return KTOResult(
            loss: loss, dPolicy: dPolicy, kl: kl,
            metrics: metrics(
                inputs, kl: kl, numChosen: numChosen, chosenReward: chosenReward, rejectedReward: rejectedReward,
                chosenLogps: chosenLogps, rejectedLogps: rejectedLogps))
    }

    /// TRL's KTO metrics of one micro-batch: `kl` always; `rewards/chosen` and `logps/chosen` (sums over the
    /// desirable examples / their count) only when the batch has one, the same for rejected; `rewards/margins`
    /// (the difference of those two means) only when it has both; `logits/*` per token when there are tokens.
    static func metrics(
        _ inputs: KTOInputs, kl: Double, numChosen: Int, chosenReward: Double, rejectedReward: Double, chosenLogps: Double,
        rejectedLogps: Double
    ) -> [String: Double] {
        var m: [String: Double] = [MetricKey.kl: kl]
        let numRejected = inputs.count - numChosen
        if numChosen > 0 {
            m[MetricKey.rewardsChosen] = chosenReward / Double(numChosen)
            m[MetricKey.logpsChosen] = chosenLogps / Double(numChosen)
        }
        if numRejected > 0 {
            m[MetricKey.rewardsRejected] = rejectedReward / Double(numRejected)
            m[MetricKey.logpsRejected] = rejectedLogps / Double(numRejected)
        }
        if numChosen > 0, numRejected > 0 {
            m[MetricKey.rewardsMargins] = m[MetricKey.rewardsChosen]! - m[MetricKey.rewardsRejected]!
        }
        if let sums = inputs.logitSums, let tokens = inputs.scoredTokens {
            var cs = 0.0, ct = 0, rs = 0.0, rt = 0
            for i in 0..<inputs.count {
                if inputs.labels[i] {
                    cs += sums[i]
                    ct += tokens[i]
                } else {
                    rs += sums[i]
                    rt += tokens[i]
                }
            }
            if ct > 0 { m[MetricKey.logitsChosen] = cs / Double(ct) }
            if rt > 0 { m[MetricKey.logitsRejected] = rs / Double(rt) }
        }
        return m
    }
}
