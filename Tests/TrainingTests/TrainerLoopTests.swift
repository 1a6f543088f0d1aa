// The training loop on a tiny model: a fresh adapter's first loss is exactly ln 2, held-out reward
// accuracy rises on a learnable task, and checkpoints appear every --save-steps and at the end, with only
// the last --save-total-limit kept.

import Adapters
import Foundation
@_spi(Benchmarks) import Model
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite struct Loop {
        @Test func freshAdapterStartsAtExactlyLn2() throws {
            let f = try TrainerFixture()
            var a = f.arguments(maxSteps: 1)
            a.loggingSteps = 1
            let r = try f.trainer(a).record()
            // B = 0: the policy IS the reference, bit for bit, so every margin is 0 and −log σ(0) = ln 2.
            #expect(r.steps.count == 1)
            #expect(r.steps[0].loss == log(2.0), "loss \(r.steps[0].loss)")
            #expect(r.steps[0].rewardAccuracy == 0)
            let first = try #require(r.logs.first)
            #expect(first["loss"] == log(2.0))
            #expect(first[MetricKey.rewardsChosen] == 0 && first[MetricKey.rewardsRejected] == 0 && first[MetricKey.rewardsMargins] == 0)
            #expect((first["grad_norm"] ?? 0) > 0, "the first step still moves B")
        }

        @Test func sharingPromptsChangesOnlyTheRounding() throws {
            // Off, every sequence is packed whole, the reference pass included. The scores agree to rounding
            // (trajectories drift further: Adam's first updates are ±lr for gradients near zero, whose sign
            // the rounding may flip).
            let f = try TrainerFixture(data: TinyData.letterTask(count: 16, seed: 5))
            var a = f.arguments(maxSteps: 3)
            a.lr = 1e-2
            let unshared = try f.trainer(a, switches: BenchmarkSwitches(sharesPrompts: false))
            #expect(try unshared.record().steps.first?.loss == log(2.0), "the unshared reference equals the unshared policy")
            let t = try f.trainer(a)
            _ = try t.record()
            let pairs = t.train.pairs
            let groups = stride(from: 0, to: pairs.count, by: a.batchSize).map { Array($0..<min(pairs.count, $0 + a.batchSize)) }
            let reference = try PairScoring.score(pairs, model: f.model, adapter: nil, groups: groups).0
            // The trained adapter, scored with each packing: a trainer over an unshared model takes its weights.
            let u = try f.trainer(a, switches: BenchmarkSwitches(sharesPrompts: false))
            for i in u.adapter.parameters.indices { u.adapter.parameters[i] = t.adapter.parameters[i] }
            var scores: [[String: Double]] = []
            for trainer in [t, u] {
                scores.append(Dictionary(try trainer.evaluate(pairs, reference: reference).map { ($0.key, $0.value) }) { x, _ in x })
            }
            let chosen = try #require(scores[0]["eval_logps/chosen"])
            #expect(chosen < 0, "a trained adapter scores the pairs")
            #expect(scores[0] != scores[1], "the two packings are different computations (they round differently)")
            // eval_num_tokens is the trainer's training-token count (TRL's), not a score: u never trained.
            for (key, x) in scores[0] where key != "eval_num_tokens" {
                let y = try #require(scores[1][key])
                #expect(abs(x - y) <= 1e-5 * max(1, abs(x)), "\(key): shared \(x), unshared \(y)")
            }
        }

        @Test func theThreadCountChangesNoBit() throws {
            // Every parallel loop writes disjoint outputs in an order fixed by the data (the attention
            // backward's tasks own their keys), so 1 and 3 workers train the same adapter bit for bit.
            let f = try TrainerFixture(data: TinyData.letterTask(count: 8, seed: 3))
            var runs: [(losses: [Double], parameters: [Float])] = []
            defer { f.model.threads = 1 }
            for threads in [1, 3] {
                f.model.threads = threads
                let t = try f.trainer(f.arguments(output: "threads\(threads)", maxSteps: 3))
                let r = try t.record()
                runs.append((r.losses, Array(t.adapter.parameters)))
            }
            #expect(runs[0].losses.count == 3)
            #expect(runs[0].losses == runs[1].losses, "losses \(runs[0].losses) vs \(runs[1].losses)")
            let differing = zip(runs[0].parameters, runs[1].parameters).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(differing) of \(runs[0].parameters.count) adapter values differ after 3 steps, 1 vs 3 threads")
        }

        @Test func aShortRunScoresOnlyThePairsItUses() throws {
            // 16 pairs, 2 per micro-batch, 2 micro-batches per step: one epoch is 4 steps.
            let f = try TrainerFixture(pairs: 16)
            var a = f.arguments(maxSteps: 2)
            a.lrSchedulerType = .constant
            a.warmupSteps = 0
            let short = try f.trainer(a).record()
            #expect(short.referencePairs == 8, "2 steps × 2 micro-batches × 2 pairs")
            a.maxSteps = 6
            a.output = f.directory + "/long"
            let long = try f.trainer(a).record()
            #expect(long.referencePairs == 16, "past one epoch every pair is scored")
            // The same groups are scored either way, so the shared steps agree bit for bit.
            #expect(Array(long.losses.prefix(2)) == short.losses)
        }

        @Test func heldOutRewardAccuracyRises() throws {
            let dir = TestPaths.temporaryDirectory("trainer-learn")
            let f = try TrainerFixture(data: TinyData.letterTask(count: 32, seed: 21))
            let heldout = try TinyData.write(TinyData.letterTask(count: 16, seed: 22), directory: dir, name: "heldout.jsonl")
            var a = f.arguments(maxSteps: 20)
            a.lora = LoRAConfig(r: 4, alpha: 8)
            a.evalData = heldout
            a.evalSteps = 10
            a.lr = 1e-2
            a.batchSize = 4
            a.gradAccum = 1
            a.warmupSteps = 0
            a.maxGradNorm = 1
            let t = try f.trainer(a)
            let eval = try #require(t.eval)
            // Packed as `evaluate` packs them (batches of --batch-size in file order).
            let groups = stride(from: 0, to: eval.pairs.count, by: a.batchSize).map { Array($0..<min(eval.pairs.count, $0 + a.batchSize)) }
            let reference = try PairScoring.score(eval.pairs, model: f.model, adapter: nil, groups: groups).0
            let before = Dictionary(try t.evaluate(eval.pairs, reference: reference).map { ($0.key, $0.value) }) { x, _ in x }
            let r = try t.record()
            let after = try #require(r.evaluations.last)
            #expect(r.evaluations.map(\.step) == [10, 20])
            let accBefore = try #require(before["eval_rewards/accuracies"])
            let accAfter = try #require(after.values["eval_rewards/accuracies"])
            #expect(accBefore == 0, "a fresh adapter has zero margins")
            #expect(accAfter >= 0.9, "held-out reward accuracy after training: \(accAfter)")
            #expect(try #require(after.values["eval_loss"]) < log(2.0) - 0.1)
        }

        @Test func checkpointsEverySaveStepsAndAtTheEndKeepingTheLast() throws {
            let f = try TrainerFixture()
            var a = f.arguments(maxSteps: 5)
            a.saveSteps = 2
            a.saveTotalLimit = 2
            let r = try f.trainer(a).record()
            #expect(r.saved == ["checkpoint-2", "checkpoint-4", "checkpoint-5"])
            #expect(r.finished == 5)
            let kept = TrainingCheckpoint.list(directory: a.output)
            #expect(kept.map(\.step) == [4, 5])
            for (step, path) in kept {
                let c = try TrainingCheckpoint.read(path: path)
                #expect(c.state.step == step && c.state.totalSteps == 5 && c.state.adamStep == step)
                #expect(c.state.baseFingerprint == f.model.file.fingerprint)
                #expect(c.state.arguments == a)
            }
            #expect(FileManager.default.fileExists(atPath: a.output + "/adapter/" + PEFTAdapter.weightsFileName))
            // The final adapter directory holds the final checkpoint's weights.
            let final = try TrainingCheckpoint.read(path: a.output + "/checkpoint-5")
            let peft = try PEFTAdapter.load(directory: a.output + "/adapter", modelConfig: f.model.config)
            #expect(peft.parameterArray().map(\.bitPattern) == final.parameters.map(\.bitPattern))
        }

        @Test func evaluatesAtTheEndByDefault() throws {
            let dir = TestPaths.temporaryDirectory("trainer-eval")
            let f = try TrainerFixture()
            var a = f.arguments(maxSteps: 2)
            a.evalData = try TinyData.write(TinyData.letterTask(count: 3, seed: 5), directory: dir, name: "heldout.jsonl")
            let r = try f.trainer(a).record()
            #expect(r.evaluations.map(\.step) == [2], "--eval-steps 0 evaluates once, at the end")
        }
    }
}
