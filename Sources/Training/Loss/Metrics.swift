// Training metrics with TRL's names and definitions (DPOTrainer, dpo_trainer.py _compute_loss and log()):
// per-micro-batch values, averaged per key over a logging window, `eval_`-prefixed for evaluation.

// MARK: - Names

public enum MetricKey {
    /// mean over pairs of β·(log πθ(c) − log πref(c)), summed completion logps (reference-free: β·mean logp).
    public static let rewardsChosen = "rewards/chosen"
    public static let rewardsRejected = "rewards/rejected"
    /// mean of [reward_c > reward_r] (strict).
    public static let rewardsAccuracies = "rewards/accuracies"
    /// mean of reward_c − reward_r.
    public static let rewardsMargins = "rewards/margins"
    /// mean over pairs of the summed completion logps (the per-token mean for reference-free losses, as CPO/ORPO).
    public static let logpsChosen = "logps/chosen"
    public static let logpsRejected = "logps/rejected"
    /// Σ over the micro-batch's completion tokens of the vocabulary-mean logit / number of those tokens.
    public static let logitsChosen = "logits/chosen"
    public static let logitsRejected = "logits/rejected"
    /// The chosen NLL: the sft term's token mean, or ORPO's whole-sequence NLL.
    public static let nllLoss = "nll_loss"
    /// ORPO: mean logσ(log-odds ratio) and mean log-odds ratio.
    public static let logOddsRatio = "log_odds_ratio"
    public static let logOddsChosen = "log_odds_chosen"
    /// Σ over the micro-batch's scored completion tokens (chosen and rejected) of the policy's next-token
    /// entropy / number of those tokens.
    public static let entropy = "entropy"
    /// Scored chosen completion tokens whose target is the policy's argmax / number of those tokens.
    public static let meanTokenAccuracy = "mean_token_accuracy"
    /// Non-padding input tokens (prompt+chosen and prompt+rejected) trained on so far, cumulative over the run.
    public static let numTokens = "num_tokens"
    /// Drift from the reference: Σ (log πθ − log πref) over scored completion tokens / their count.
    public static let logratioChosen = "logratio/chosen"
    public static let logratioRejected = "logratio/rejected"
    /// `--kl-estimate`: Σ over the scored completion tokens (chosen and rejected) of KL(πθ ‖ πref) of the
    /// full next-token distributions / number of those tokens. KTO logs its batch KL estimate
    /// max(0, mean(log πθ − log πref)) over the KL sequences under the same name, as TRL does.
    public static let kl = "kl"
    /// Mean completion length in tokens.
    public static let lengthChosen = "length/chosen"
    public static let lengthRejected = "length/rejected"
    /// Pearson correlation of the reward margin with the length difference (chosen − rejected) over the
    /// pairs of a logging window (computed at flush from the `momentPrefix` keys).
    public static let lengthMarginCorr = "length_margin_corr"
    /// End of run (HF Trainer): wall seconds of the run and the mean step loss over all steps.
    public static let trainRuntime = "train_runtime"
    public static let trainLoss = "train_loss"
    /// Micro-batch sums a window turns into `length_margin_corr`; never logged themselves.
    static let momentPrefix = "_moments/length_margin/"
    static let momentKeys = ["n", "x", "y", "xx", "yy", "xy"].map { momentPrefix + $0 }
}

// MARK: - Definitions

public enum Metrics {
    /// rewards/* and logps/* of one micro-batch from per-pair rewards and logps (B).
    public static func rewardMetrics(
        chosenRewards: [Double], rejectedRewards: [Double], chosenLogps: [Double], rejectedLogps: [Double]
    ) -> [String: Double] {
        let n = chosenRewards.count
        precondition(n > 0 && rejectedRewards.count == n && chosenLogps.count == n && rejectedLogps.count == n)
        let inv = 1 / Double(n)
        var accuracy = 0.0
        var margin = 0.0
        for i in 0..<n {
            if chosenRewards[i] > rejectedRewards[i] { accuracy += 1 }
            margin += chosenRewards[i] - rejectedRewards[i]
        }
        return [
            MetricKey.rewardsChosen: chosenRewards.reduce(0, +) * inv,
            MetricKey.rewardsRejected: rejectedRewards.reduce(0, +) * inv,
            MetricKey.rewardsAccuracies: accuracy * inv,
            MetricKey.rewardsMargins: margin * inv,
            MetricKey.logpsChosen: chosenLogps.reduce(0, +) * inv,
            MetricKey.logpsRejected: rejectedLogps.reduce(0, +) * inv,
        ]
    }

    /// length/* of a micro-batch and the moments (x = margin, y = length difference) that
    /// `MetricsWindow` turns into `length_margin_corr`.
    public static func lengthMetrics(chosenLengths: [Int], rejectedLengths: [Int], margins: [Double]) -> [String: Double] {
        let n = Double(margins.count)
        var m = [Double](repeating: 0, count: 6)
        m[0] = n
        for (i, x) in margins.enumerated() {
            let y = Double(chosenLengths[i] - rejectedLengths[i])
            m[1] += x
            m[2] += y
            m[3] += x * x
            m[4] += y * y
            m[5] += x * y
        }
        var out = Dictionary(uniqueKeysWithValues: zip(MetricKey.momentKeys, m))
        out[MetricKey.lengthChosen] = Double(chosenLengths.reduce(0, +)) / n
        out[MetricKey.lengthRejected] = Double(rejectedLengths.reduce(0, +)) / n
        return out
    }

    /// Pearson r from moment sums (n, Σx, Σy, Σx², Σy², Σxy); nil when either side has no variance. Scaling
    /// every sum by the same factor leaves r unchanged, so a window's per-key means give the window's r.
    public static func pearson(_ m: [Double]) -> Double? {
        let (n, sx, sy, sxx, syy, sxy) = (m[0], m[1], m[2], m[3], m[4], m[5])
        let vx = n * sxx - sx * sx, vy = n * syy - sy * sy
        guard vx > 1e-12 * max(1, n * sxx), vy > 1e-12 * max(1, n * syy) else { return nil }
        return max(-1, min(1, (n * sxy - sx * sy) / (vx * vy).squareRoot()))
    }

    /// Σ sums / Σ counts, 0 when there are no tokens (TRL's logits/* over a micro-batch).
    public static func tokenMean(_ sums: [Double], _ counts: [Int]) -> Double {
        let tokens = counts.reduce(0, +)
        return tokens > 0 ? sums.reduce(0, +) / Double(tokens) : 0
    }
}

// MARK: - Logging window

/// TRL's `_metrics[mode]` lists and `log()`: every micro-batch appends its values; a log averages each key over
/// the values appended since the last log (each key over its own count), then clears.
public struct MetricsWindow: Sendable {
    private var order: [String] = []
    private var values: [String: [Double]] = [:]

    public init() {}

    public var isEmpty: Bool { order.isEmpty }

    public mutating func add(_ key: String, _ value: Double) {
        if values[key] == nil { order.append(key) }
        values[key, default: []].append(value)
    }

    /// Adds a micro-batch's metrics (keys in sorted order, so first-seen order is deterministic).
    public mutating func add(_ metrics: [String: Double]) {
        for key in metrics.keys.sorted() { add(key, metrics[key]!) }
    }

    /// The per-key means, in first-seen order; `eval` prefixes the keys with `eval_`.
    /// The length-margin moments become one `length_margin_corr` (left out when it is undefined).
    public func averages(eval: Bool = false) -> [(key: String, value: Double)] {
        var out: [(key: String, value: Double)] = []
        var moments: [Double] = []
        for key in order {
            let v = values[key]!
            let mean = v.reduce(0, +) / Double(v.count)
            if key.hasPrefix(MetricKey.momentPrefix) {
                if key == MetricKey.momentKeys.last {
                    moments = MetricKey.momentKeys.map { k in values[k].map { $0.reduce(0, +) / Double($0.count) } ?? 0 }
                    if let r = Metrics.pearson(moments) { out.append(((eval ? "eval_" : "") + MetricKey.lengthMarginCorr, r)) }
                }
                continue
            }
            out.append((eval ? "eval_" + key : key, mean))
        }
        return out
    }

    /// `averages` then clear, as TRL's `log()`.
    public mutating func flush(eval: Bool = false) -> [(key: String, value: Double)] {
        defer { self = MetricsWindow() }
        return averages(eval: eval)
    }
}
