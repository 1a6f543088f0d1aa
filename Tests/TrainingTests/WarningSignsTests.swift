// The run-level metrics on the tiny model: TRL's entropy / mean_token_accuracy / num_tokens, the drift and
// length signs, the end-of-run summary, and the collapse warning firing on a deliberately bad run.

import Foundation
import SeededRandom
import Testing
import Training

extension TrainerTests {
    @Suite struct WarningSigns {
        /// Every logged window carries the new keys with sane values; num_tokens counts prompt+chosen and
        /// prompt+rejected of every trained pair (cumulative), and train_loss is the mean step loss.
        @Test func loggedMetricsAndSummary() throws {
            let f = try TrainerFixture(pairs: 8)
            var a = f.arguments(maxSteps: 4)
            a.loggingSteps = 2
            let run = try f.trainer(a).record()
            #expect(run.logs.count == 2)
            for window in run.logs {
                for key in [
                    MetricKey.entropy, MetricKey.meanTokenAccuracy, MetricKey.numTokens, MetricKey.logratioChosen,
                    MetricKey.logratioRejected, MetricKey.lengthChosen, MetricKey.lengthRejected,
                ] {
                    #expect(window[key] != nil, "\(key) missing from \(window.keys.sorted())")
                }
                let h = try #require(window[MetricKey.entropy])
                #expect(h > 0 && h < log(64), "entropy \(h) outside (0, log V)")
                let acc = try #require(window[MetricKey.meanTokenAccuracy])
                #expect(acc >= 0 && acc <= 1)
                for k in ["_moments/length_margin/n", "_moments/length_margin/xy"] { #expect(window[k] == nil, "\(k) leaked into the log") }
            }
            // 4 steps × 2 micro-batches × 2 pairs = two epochs over the 8 pairs: each pair counted twice.
            let pairs = try f.trainer(a).train.pairs
            #expect(pairs.count == 8)
            let tokens = 2 * pairs.reduce(0) { $0 + $1.chosen.ids.count + $1.rejected.ids.count }
            #expect(run.logs.last?[MetricKey.numTokens] == Double(tokens))
            #expect(run.logs.first![MetricKey.numTokens]! < Double(tokens), "num_tokens is cumulative")
            let meanLoss = run.losses.reduce(0, +) / Double(run.losses.count)
            #expect(abs(run.summary[MetricKey.trainLoss]! - meanLoss) < 1e-12)
            #expect(run.summary[MetricKey.trainRuntime]! > 0 && run.summary["step"] == 4)
        }

        /// At step 1 the policy is the reference (B = 0): no drift, and the margin is 0 for every pair, so
        /// the correlation is undefined and left out.
        @Test func firstWindowHasNoDrift() throws {
            let f = try TrainerFixture(pairs: 8)
            var a = f.arguments(maxSteps: 1)
            a.loggingSteps = 1
            a.gradAccum = 1
            a.klEstimate = true
            let log = try #require(try f.trainer(a).record().logs.first)
            #expect(log[MetricKey.logratioChosen] == 0 && log[MetricKey.logratioRejected] == 0)
            #expect(log[MetricKey.lengthMarginCorr] == nil)
            // The log-probs agree bit for bit; the two logsumexps come from differently compiled loops (the
            // policy's folds the entropy too), so the KL is 0 up to f32 rounding of lse (~1e-7 relative).
            let kl = try #require(log[MetricKey.kl])
            #expect(kl >= 0 && kl < 1e-6, "the policy is the reference: KL \(kl)")
        }

        /// `kl` is logged only when asked, grows from 0 as the adapter moves, and leaves the run's numbers alone.
        @Test func klEstimateIsOptIn() throws {
            let f = try TrainerFixture(pairs: 8)
            var a = f.arguments(maxSteps: 4)
            a.loggingSteps = 2
            let plain = try f.trainer(a).record()
            #expect(plain.logs.allSatisfy { $0[MetricKey.kl] == nil })
            a.klEstimate = true
            a.output += "-kl"
            let withKL = try f.trainer(a).record()
            let kls = withKL.logs.compactMap { $0[MetricKey.kl] }
            #expect(kls.count == 2 && kls.allSatisfy { $0 > 0 && $0.isFinite }, "kl per window: \(kls)")
            #expect(withKL.losses.map(\.bitPattern) == plain.losses.map(\.bitPattern))
        }

        /// A learning rate and β far too high, on pairs whose chosen and rejected completions are drawn from the
        /// same letters (nothing to learn but memorizing): DPO pushes probability off both completions, and
        /// logps/chosen falls for four windows in a row while the margin ends higher (windows 3→7:
        /// -25.05→-31.73 with margins 23.9→26.6). The warning fires once, naming the remedies; the learnable
        /// task at a high but sane setting stays quiet over the same number of windows.
        @Test func collapseWarningFiresOnABadRun() throws {
            var rng = SplitMix64(seed: 7)
            func letters(_ n: Int) -> String { String((0..<n).map { _ in Array("abcdefgh")[Int(rng.next() % 8)] }) }
            let data = (0..<8).map { _ in (prompt: letters(4) + "=", chosen: " " + letters(3), rejected: " " + letters(3)) }
            func badArguments(_ f: TrainerFixture, lr: Double, beta: Double) -> TrainArguments {
                var a = f.arguments(maxSteps: 12)
                a.lr = lr
                a.beta = beta
                a.warmupSteps = 0
                a.lrSchedulerType = .constant
                a.lora.dropout = 0
                a.loggingSteps = 1
                a.gradAccum = 1
                a.batchSize = 8
                return a
            }
            let f = try TrainerFixture(data: data)
            let run = try f.trainer(badArguments(f, lr: 0.05, beta: 2)).record()
            let trace = run.logs.map { String(format: "%.2f/%.2f", $0[MetricKey.logpsChosen]!, $0[MetricKey.rewardsMargins]!) }
            #expect(run.warnings.count == 1, "warnings \(run.warnings); logps/chosen / margins per window: \(trace)")
            if let w = run.warnings.first {
                #expect(w.contains("logps/chosen") && w.contains("lower beta or lr") && w.contains("--loss sigmoid,sft"))
            }
            let learnable = try TrainerFixture(pairs: 8)
            let quiet = try learnable.trainer(badArguments(learnable, lr: 0.05, beta: 0.5)).record()
            #expect(quiet.logs.count == 12 && quiet.warnings.isEmpty, "\(quiet.warnings)")
        }
    }
}

@Test func collapseWatchCountsConsecutiveWindows() {
    func window(_ logps: Double, _ margin: Double) -> [(key: String, value: Double)] {
        [(MetricKey.logpsChosen, logps), (MetricKey.rewardsMargins, margin)]
    }
    var watch = CollapseWatch(windows: 3)
    #expect(watch.observe(window(-10, 0)) == nil)
    #expect(watch.observe(window(-11, 0.1)) == nil)
    #expect(watch.observe(window(-12, 0.2)) == nil)
    #expect(watch.observe(window(-11.5, 0.3)) == nil, "logps rose: the streak restarts")
    #expect(watch.observe(window(-12, 0.4)) == nil)
    #expect(watch.observe(window(-13, 0.5)) == nil)
    let w = watch.observe(window(-14, 0.6))
    #expect(w?.contains("-11.5 → -14.0") == true, "\(w ?? "nil")")
    #expect(watch.observe(window(-15, 0.7)) == nil, "once per streak")
    // A margin that dips inside the streak but ends above its start still warns; one that ends below does not.
    var noisy = CollapseWatch(windows: 3)
    for (l, m) in [(-10.0, 1.0), (-11, 2), (-12, 0.8), (-13, 0.9), (-13.5, 0.95)] {
        #expect(noisy.observe(window(l, m)) == nil, "logps \(l): margin \(m) not above the streak's start 1.0")
    }
    #expect(noisy.observe(window(-14, 1.1)) != nil, "five falls, margin 1.1 above the start 1.0")
    var off = CollapseWatch(windows: 0)
    for k in 0..<10 { #expect(off.observe(window(-Double(k), Double(k))) == nil) }
}

@Test func lengthMarginCorrelationOverAWindow() {
    // Two micro-batches whose pairs have margin = 0.5 · length difference + 1: r = 1 over the window.
    var w = MetricsWindow()
    w.add(Metrics.lengthMetrics(chosenLengths: [5, 3], rejectedLengths: [2, 4], margins: [2.5, 0.5]))
    w.add(Metrics.lengthMetrics(chosenLengths: [7], rejectedLengths: [1], margins: [4]))
    let values = Dictionary(w.averages().map { ($0.key, $0.value) }) { a, _ in a }
    #expect(abs(values[MetricKey.lengthMarginCorr]! - 1) < 1e-12)
    #expect(values[MetricKey.lengthChosen] == (4 + 7) / 2.0, "a mean of micro-batch means, as every metric")
    #expect(Metrics.pearson([3, 1, 2, 1, 4, 3]) != nil)
}
