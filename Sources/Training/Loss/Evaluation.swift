// TRL's evaluation metrics from per-pair sums: the loss of the chosen losses and every metric, computed per
// micro-batch of `batchSize` pairs and averaged over micro-batches, as TRL's evaluation loop and the
// trainer's `eval_` rows do. `leandpo eval` uses it, so both report the same numbers for the same pairs.

public enum Evaluation {
    public static func metrics(
        pairs: [TokenizedPair], policy: ReferenceLogps, policyLogitSums: (chosen: [Double], rejected: [Double]),
        reference: ReferenceLogps?, config: LossConfig, batchSize: Int
    ) -> [(key: String, value: Double)] {
        precondition(!config.losses.contains { $0.kind == .orpo }, "orpo needs the whole chosen sequence's log-probs")
        var window = MetricsWindow()
        for start in stride(from: 0, to: pairs.count, by: max(1, batchSize)) {
            let idx = Array(start..<min(pairs.count, start + batchSize))
            let p = policy[idx]
            let r = reference?[idx]
            var inputs = LossInputs(
                pairs: idx.map { pairs[$0] }, policyChosen: p.chosen, policyRejected: p.rejected, referenceChosen: r?.chosen,
                referenceRejected: r?.rejected)
            inputs.policyChosenTail = p.chosenTail
            inputs.policyRejectedTail = p.rejectedTail
            inputs.referenceChosenTail = r?.chosenTail
            inputs.referenceRejectedTail = r?.rejectedTail
            inputs.chosenLogitSums = idx.map { policyLogitSums.chosen[$0] }
            inputs.rejectedLogitSums = idx.map { policyLogitSums.rejected[$0] }
            let result = DPOLoss.compute(inputs, config: config)
            window.add(result.metrics.merging(["loss": result.loss]) { a, _ in a })
        }
        return window.flush()
    }
}

extension Evaluation {
    /// The same for unpaired (KTO) data: `pairs` and the sums hold (completion, KL completion), as
    /// `UnpairedDataset.scoringPairs` builds them for micro-batches of `batchSize`.
    public static func unpairedMetrics(
        pairs: [TokenizedPair], labels: [Bool], policy: ReferenceLogps, policyLogitSums: [Double], reference: ReferenceLogps,
        config: LossConfig, batchSize: Int
    ) -> [(key: String, value: Double)] {
        let withKL = config.losses.contains { KTOLoss.needsKL($0.kind) }
        var window = MetricsWindow()
        for start in stride(from: 0, to: pairs.count, by: max(1, batchSize)) {
            let idx = Array(start..<min(pairs.count, start + batchSize))
            var inputs = KTOInputs(
                policy: idx.map { policy.chosen[$0] }, reference: idx.map { reference.chosen[$0] },
                policyKL: withKL ? idx.map { policy.rejected[$0] } : nil, referenceKL: withKL ? idx.map { reference.rejected[$0] } : nil,
                labels: idx.map { labels[$0] })
            inputs.logitSums = idx.map { policyLogitSums[$0] }
            inputs.scoredTokens = idx.map { pairs[$0].chosen.scoredTokens }
            let result = KTOLoss.compute(inputs, config: config)
            window.add(result.metrics.merging(["loss": result.loss]) { a, _ in a })
        }
        return window.flush()
    }
}
