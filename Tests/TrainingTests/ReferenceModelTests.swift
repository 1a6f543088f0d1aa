// The reference model of a run that starts from --init-adapter: by default the model it starts from (base +
// that adapter, frozen, as TRL does when handed a PeftModel), or with `reference: base` the base with the
// adapters off. Checked where the two differ: an initial adapter with B ≠ 0.

import Adapters
import Foundation
@_spi(Benchmarks) import Model
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite struct ReferenceModel {
        /// An adapter on q and v whose B is not zero, saved as a PEFT directory: the model it gives is not the base.
        static func initialAdapter(_ f: TrainerFixture, name: String = "init", offset: Double = 0) throws -> String {
            let a = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4, targets: [.q, .v]), modelConfig: f.model.config, seed: 3)
            a.setParameters((0..<a.parameterCount).map { Float(0.08 * sin(Double($0) * 0.7 + offset)) })
            let dir = f.directory + "/" + name
            try PEFTAdapter.save(a, directory: dir, baseModel: "tiny")
            return dir
        }

        static func arguments(_ f: TrainerFixture, initAdapter: String, output: String, steps: Int = 2) -> TrainArguments {
            var a = f.arguments(output: output, maxSteps: steps)
            a.initAdapter = initAdapter
            a.loggingSteps = 1
            return a
        }

        /// Starting from the adapter that is also the reference, the first step's policy is the reference bit
        /// for bit: loss ln 2 and zero rewards. Against the base (the old behaviour, `reference: base`) the
        /// first loss is not ln 2, and the two runs' first gradients differ.
        @Test func theInitialAdapterIsTheReference() throws {
            let f = try TrainerFixture()
            let dir = try Self.initialAdapter(f)
            var a = Self.arguments(f, initAdapter: dir, output: "initial")
            a.lora.dropout = 0
            #expect(a.reference == .initial, "the default")
            let initial = try f.trainer(a).record()
            #expect(initial.losses.first == log(2.0), "\(initial.losses)")
            let log1 = try #require(initial.logs.first)
            #expect(log1[MetricKey.rewardsChosen] == 0 && log1[MetricKey.rewardsRejected] == 0, "\(log1)")

            a.reference = .base
            a.output = f.directory + "/base"
            let base = try f.trainer(a).record()
            let first = try #require(base.losses.first)
            #expect(abs(first - log(2.0)) > 1e-4, "against the base the initial adapter already has margins: \(first)")
            #expect(base.losses[1] != initial.losses[1])
        }

        /// The KL estimate compares with the same reference: zero at the first step from an initial adapter.
        @Test func theKLEstimateUsesTheSameReference() throws {
            let f = try TrainerFixture()
            var a = Self.arguments(f, initAdapter: try Self.initialAdapter(f), output: "kl", steps: 3)
            a.lr = 5e-2
            a.gradAccum = 1
            a.klEstimate = true
            let r = try f.trainer(a).record()
            let kls = r.logs.compactMap { $0[MetricKey.kl] }
            #expect(kls.count == 3)
            #expect(kls[0] >= 0 && kls[0] < 1e-6, "the policy is the reference at step 1: KL \(kls[0])")
            #expect(kls[2] > 1e-5, "the adapter has moved from its frozen copy: KL \(kls)")
            // The frozen copy did not train: a run without the estimate has the same losses.
            a.klEstimate = false
            a.output += "-plain"
            #expect(try f.trainer(a).record().losses.map(\.bitPattern) == r.losses.map(\.bitPattern))
        }

        /// A resume scores the reference again from --init-adapter (these runs pack each pair's prompt twice, a
        /// benchmark switch under which reference log-probs are never cached): the same losses as an unbroken
        /// run. An --init-adapter directory that now holds other values is refused by name.
        @Test func aResumeKeepsTheReferenceOrRefusesAChangedOne() throws {
            let f = try TrainerFixture()
            let dir = try Self.initialAdapter(f)
            func trainer(_ a: TrainArguments, resume: TrainingCheckpoint? = nil) throws -> Trainer {
                let model = try LlamaModel(path: f.modelPath, threads: 1, switches: BenchmarkSwitches(sharesPrompts: false))
                return try Trainer(arguments: a, model: model, context: ByteToy.context, resume: resume)
            }
            var whole = Self.arguments(f, initAdapter: dir, output: "whole", steps: 4)
            whole.lora.dropout = 0
            let unbroken = try trainer(whole).record()

            var parts = whole
            parts.output = f.directory + "/parts"
            let first = try trainer(parts)
            try first.record(stopAfter: 2)
            _ = try first.saveIfNeeded()
            let checkpoint = try TrainingCheckpoint.read(path: parts.output + "/checkpoint-2")
            #expect(checkpoint.state.referenceAdapter != nil)
            let rest = try trainer(parts, resume: checkpoint).record()
            #expect(rest.losses.map(\.bitPattern) == Array(unbroken.losses.dropFirst(2)).map(\.bitPattern))

            _ = try Self.initialAdapter(f, name: "init", offset: 1)  // same directory, other values
            let text = errorText { _ = try trainer(parts, resume: checkpoint) }
            #expect(text?.contains("the reference adapter changed since this checkpoint") == true, "\(text ?? "no error")")
        }

        /// A checkpoint written before `reference` existed scored an --init-adapter run against the base: its
        /// arguments read back so, and a resume with today's default is refused naming --reference.
        @Test func olderRecordsReadAsTheBaseReference() throws {
            var old = TrainArguments(model: "m", data: "d", output: "o")
            old.initAdapter = "init"
            var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(old)) as! [String: Any]
            #expect(json["reference"] as? String == "initial")
            json["reference"] = nil
            let back = try JSONDecoder().decode(TrainArguments.self, from: try JSONSerialization.data(withJSONObject: json))
            #expect(back.reference == .base)
            #expect(TrainOptions.resumeDifferences(saved: back, now: old).refused == ["--reference"])
            // Without an initial adapter the two references are the same model, and nothing changes.
            old.initAdapter = nil
            json["init_adapter"] = nil
            #expect(try JSONDecoder().decode(TrainArguments.self, from: try JSONSerialization.data(withJSONObject: json)).reference == .initial)
        }
    }
}
