// TRL metric definitions and the logging window (per-key averages over micro-batches, eval_ prefix).

import Testing
import Training

@Test func rewardMetricsFollowTRL() {
    let m = Metrics.rewardMetrics(
        chosenRewards: [1, 0.5, -2], rejectedRewards: [0, 0.5, -3], chosenLogps: [-10, -20, -30], rejectedLogps: [-1, -2, -3])
    #expect(m[MetricKey.rewardsChosen] == (1 + 0.5 - 2) / 3)
    #expect(m[MetricKey.rewardsAccuracies] == 2.0 / 3)  // the tie 0.5 vs 0.5 is not accurate
    #expect(m[MetricKey.rewardsMargins] == 2.0 / 3)
    #expect(m[MetricKey.logpsRejected] == -2)
}

@Test func logitsAreATokenMeanOverTheMicroBatch() {
    // Σ of per-token vocab-mean logits / number of tokens, not a mean of per-pair means.
    #expect(Metrics.tokenMean([3, 10], [1, 4]) == 13.0 / 5)
    #expect(Metrics.tokenMean([], []) == 0)
}

@Test func windowAveragesEachKeyOverItsOwnValues() {
    var w = MetricsWindow()
    w.add([MetricKey.rewardsChosen: 1, MetricKey.nllLoss: 4])
    w.add([MetricKey.rewardsChosen: 2])
    w.add("grad_norm", 0.5)
    let logged = w.flush(eval: false)
    #expect(logged.map(\.key) == [MetricKey.nllLoss, MetricKey.rewardsChosen, "grad_norm"])
    #expect(logged.map(\.value) == [4, 1.5, 0.5])
    #expect(w.isEmpty)

    w.add([MetricKey.rewardsMargins: 3])
    #expect(w.averages(eval: true).map(\.key) == ["eval_rewards/margins"])
}
