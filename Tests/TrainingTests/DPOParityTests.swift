// SmolLM2-135M + a fixed nonzero PEFT adapter: the DPO loss, TRL's metrics and every LoRA gradient of one
// batch, computed exactly as the trainer computes them, against PyTorch/PEFT (cross-checked with TRL's
// DPOTrainer). Fixtures and tolerances: tools/reference/README.md (`smollm2_dpo.json`). Skips without the model.

import Foundation
import Adapters
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite(.enabled(if: TestPaths.smolLM2 != nil, "needs the SmolLM2 MTF (tools/fetch-model or LEANDPO_MODEL)"))
    struct SmolLM2Parity {
        @Test func dpoLossMetricsAndGradientsMatchPyTorch() throws {
            let fixture = try #require(Fixture.json("smollm2_dpo.json") as? [String: Any])
            let model = try LlamaModel(path: try #require(TestPaths.smolLM2), threads: 2)
            let text = try ModelText(model.file.metadata)

            // MARK: Tokenization, as the trainer's data loader does it
            let fxPairs = try #require(fixture["pairs"] as? [[String: Any]])
            let lines = try fxPairs.map { p in
                String(
                    decoding: try JSONSerialization.data(
                        withJSONObject: ["prompt": p["prompt"]!, "chosen": p["chosen"]!, "rejected": p["rejected"]!]), as: UTF8.self)
            }
            let config = try #require(fixture["config"] as? [String: Any])
            let records = try PreferenceData.parse(Array(lines.joined(separator: "\n").utf8), file: "smollm2_dpo.jsonl")
            let data = try PreferenceDataset.make(
                records, context: text.context, options: DataOptions(maxLength: try #require(config["max_length"] as? Int)))
            let pairs = data.pairs
            expectPairsMatch(pairs, fxPairs, label: "pair")

            // MARK: Loss, metrics, gradients, as the trainer's step computes them
            let adapterDir = try Fixture.url("smollm2_adapter_r2").path
            let adapter = try PEFTAdapter.load(directory: adapterDir, modelConfig: model.config)
            #expect(adapter.config.r == 2 && adapter.scale == 2)
            let beta = try #require(config["beta"] as? Double)
            let lossConfig = LossConfig(losses: [WeightedLoss(.sigmoid)], beta: beta)
            let pb = PairBatch(pairs: pairs)
            let reference = try PairScoring.score(pairs, model: model, adapter: nil).0
            adapter.zeroGradients()
            var result: LossResult?
            let lp = try model.forwardBackward(batch: pb.batch, completionRanges: pb.ranges, adapter: adapter) { lp in
                let r = DPOLoss.compute(Trainer.lossInputs(pb, lp, reference), config: lossConfig)
                result = r
                return pb.tokenGradients(r.gradient, scale: 1)
            }
            let r = try #require(result)
            let refLp = try model.sequenceLogProbs(batch: pb.batch, completionRanges: pb.ranges, adapter: nil)

            // Per-pair summed logps (2e-3) and per-token logps (5e-4).
            let sums = pb.sums(lp)
            let b = pairs.count
            for (i, fx) in fxPairs.enumerated() {
                func num(_ k: String) -> Double { (fx[k] as? Double) ?? .nan }
                func list(_ k: String) -> [Float] { ((fx[k] as? [Double]) ?? []).map(Float.init) }
                #expect(abs(sums.chosen[i] - num("policy_chosen_logps")) <= 2e-3)
                #expect(abs(sums.rejected[i] - num("policy_rejected_logps")) <= 2e-3)
                #expect(abs(reference.chosen[i] - num("reference_chosen_logps")) <= 2e-3)
                #expect(abs(reference.rejected[i] - num("reference_rejected_logps")) <= 2e-3)
                let checks: [(ArraySlice<Float>, String)] = [
                    (lp.tokens(i), "policy_chosen_per_token_logps"), (lp.tokens(b + i), "policy_rejected_per_token_logps"),
                    (refLp.tokens(i), "reference_chosen_per_token_logps"), (refLp.tokens(b + i), "reference_rejected_per_token_logps"),
                ]
                for (got, key) in checks {
                    let want = list(key)
                    #expect(got.count >= want.count)
                    #expect(maxAbsDiff(Array(got.suffix(want.count)), want) <= 5e-4, "pair \(i) \(key)")
                }
            }

            // Losses: sigmoid and hinge 1e-4, ipo 1e-3 (the last two from the same log-probs).
            let losses = try #require(fixture["loss"] as? [String: Double])
            #expect(abs(r.loss - losses["sigmoid"]!) <= 1e-4, "sigmoid \(r.loss) vs \(losses["sigmoid"]!)")
            let inputs = Trainer.lossInputs(pb, lp, reference)
            let ipo = DPOLoss.compute(inputs, config: LossConfig(losses: [WeightedLoss(.ipo)], beta: beta)).loss
            let hinge = DPOLoss.compute(inputs, config: LossConfig(losses: [WeightedLoss(.hinge)], beta: beta)).loss
            #expect(abs(ipo - losses["ipo"]!) <= 1e-3, "ipo \(ipo) vs \(losses["ipo"]!)")
            #expect(abs(hinge - losses["hinge"]!) <= 1e-4, "hinge \(hinge) vs \(losses["hinge"]!)")

            // TRL metrics: rewards 2e-4, accuracies exact, logps 2e-3, logits 1e-4.
            let metrics = try #require(fixture["metrics"] as? [String: Double])
            let tolerance: [String: Double] = [
                MetricKey.rewardsChosen: 2e-4, MetricKey.rewardsRejected: 2e-4, MetricKey.rewardsMargins: 2e-4,
                MetricKey.rewardsAccuracies: 0, MetricKey.logpsChosen: 2e-3, MetricKey.logpsRejected: 2e-3,
                MetricKey.logitsChosen: 1e-4, MetricKey.logitsRejected: 1e-4,
            ]
            for (key, tol) in tolerance {
                let want = try #require(metrics[key], "fixture metric \(key)")
                let got = try #require(r.metrics[key], "metric \(key)")
                #expect(abs(got - want) <= tol, "\(key): \(got) vs \(want)")
            }
            // From the chunked head's online statistics: entropy 1e-4 (an f32 mean over the completion tokens of
            // a 49,152-term sum; TRL's fused kernel and torch's log_softmax differ by 1.1e-5 here),
            // mean_token_accuracy 1e-6 (a count of argmax hits over 50 tokens, one miss is 0.02; TRL divides in
            // f32), num_tokens exact (prompt+chosen and prompt+rejected, TRL's attention_mask sum; the shared
            // prompt counted twice).
            let entropy = try #require(metrics[MetricKey.entropy], "fixture metric entropy (regenerate with gen_dpo_fixtures.py)")
            #expect(abs(r.metrics[MetricKey.entropy]! - entropy) <= 1e-4, "entropy \(r.metrics[MetricKey.entropy]!) vs \(entropy)")
            let accuracy = try #require(r.metrics[MetricKey.meanTokenAccuracy])
            #expect(abs(accuracy - (metrics[MetricKey.meanTokenAccuracy] ?? .nan)) <= 1e-6, "mean_token_accuracy \(accuracy)")
            #expect(Double(pb.tokenCount) == metrics[MetricKey.numTokens])
            let trl = try #require((fixture["trl_check"] as? [String: Any])?["metrics"] as? [String: Double], "trl_check metrics")
            #expect(abs(r.metrics[MetricKey.entropy]! - trl[MetricKey.entropy]!) <= 1e-4, "entropy vs TRL's DPOTrainer")
            #expect(abs(accuracy - (trl[MetricKey.meanTokenAccuracy] ?? .nan)) <= 1e-6, "mean_token_accuracy vs TRL's DPOTrainer")
            #expect(Double(pb.tokenCount) == trl[MetricKey.numTokens])

            // Gradients: every tensor's norm and the total within 2e-3 relative; full tensors of layers 0 and 29.
            let norms = try #require(fixture["grad_norms"] as? [String: Double])
            let tensors = adapter.tensorNames
            #expect(tensors.count == norms.count)
            let grads = Array(adapter.gradients)
            func slice(_ t: (name: String, shape: [Int], offset: Int)) -> [Float] {
                Array(grads[t.offset..<(t.offset + t.shape.reduce(1, *))])
            }
            func norm(_ x: [Float]) -> Double { x.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
            var worstNorm = 0.0
            var total = 0.0
            for t in tensors {
                let want = try #require(norms[t.name], "fixture norm of \(t.name)")
                let got = norm(slice(t))
                total += got * got
                worstNorm = max(worstNorm, abs(got - want) / want)
            }
            #expect(worstNorm <= 2e-3, "worst relative gradient-norm difference \(worstNorm)")
            let totalWant = try #require(fixture["grad_total_norm"] as? Double)
            #expect(abs(total.squareRoot() - totalWant) / totalWant <= 2e-3)

            let full = try readF32Safetensors(Fixture.url("smollm2_dpo_grads.safetensors"))
            #expect(full.count == 28)
            var worstFull = 0.0
            for t in tensors where full[t.name] != nil {
                let (shape, want) = full[t.name]!
                #expect(shape == t.shape, "\(t.name) shape")
                let got = slice(t)
                let diff = zip(got, want).map { $0 - $1 }
                worstFull = max(worstFull, norm(diff) / norm(want))
            }
            #expect(worstFull <= 2e-3, "worst ‖g − g_torch‖/‖g_torch‖ over layers 0 and 29: \(worstFull)")
        }
    }
}

/// name → (shape, values) of an all-F32 safetensors file, with ModelFiles' reader.
func readF32Safetensors(_ url: URL) throws -> [String: (shape: [Int], values: [Float])] {
    let file = try SafetensorsFile(path: url.path)
    var out: [String: (shape: [Int], values: [Float])] = [:]
    for t in file.tensors {
        #expect(t.dtype == "F32", "\(t.name) dtype")
        var values = [Float](repeating: 0, count: t.elementCount)
        if !values.isEmpty { try values.withUnsafeMutableBufferPointer { try file.readFloats(t, into: $0.baseAddress!) } }
        out[t.name] = (t.shape, values)
    }
    return out
}
