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
    /// KTO: the batch's KL estimate max(0, mean(log πθ − log πref)) over the KL sequences (0 without it).
    public static let kl = "kl"
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
    public func averages(eval: Bool = false) -> [(key: String, value: Double)] {
        order.map { key in
            let v = values[key]!
            return (eval ? "eval_" + key : key, v.reduce(0, +) / Double(v.count))
        }
    }

    /// `averages` then clear, as TRL's `log()`.
    public mutating func flush(eval: Bool = false) -> [(key: String, value: Double)] {
        defer { self = MetricsWindow() }
        return averages(eval: eval)
    }
}
