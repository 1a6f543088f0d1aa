// The command line with a tiny Phi-3 (fused qkv_proj / gate_up_proj, sliding window 4, SentencePiece tokenizer
// with Phi-3's added tokens and chat template): `convert` from an HF directory (model_type phi3) and from a GGUF
// written as llama.cpp writes Phi-3 (architecture phi3, attn_qkv, fused ffn_up), `inspect` names the family,
// `train` 2 steps, `eval`, and `export` to hf, gguf and peft, each re-converted; 2 DPO steps against TRL from a
// PEFT adapter on the fused modules (Tests/ModelTests/Fixtures/tiny_phi3*, Tests/TrainingTests/Fixtures/phi3_*,
// from tools/reference/gen_phi3_fixtures.py).

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(arguments: ["tiny_phi3", "tiny_phi3.gguf"])
    func phi3ConvertsTrainsEvaluatesAndExports(_ name: String) throws {
        let f = try CLIFixture()
        let source = TestPaths.repositoryRoot + "/Tests/ModelTests/Fixtures/" + name
        let (mtf, inspected) = try f.convertAndInspect(source, to: "phi3.mtf")
        #expect(inspected.contains("architecture phi3") && inspected.contains("sliding window 4"), "\(inspected)")
        #expect(inspected.contains("SentencePiece BPE"), "\(inspected)")

        let records = CLIFixture.familyRecords([
            #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "One?"}, {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "Two?"}], "chosen": [{"role": "assistant", "content": "No."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
        ])
        try f.trainTwoStepsAndEvaluate(model: mtf, records: records, name: "phi3")

        // Every export converts back to a Phi-3 with its window.
        for (format, to) in [("hf", f.path("hf")), ("gguf", f.path("m.gguf"))] {
            let e = try CLI.run(
                ["export", "--model", mtf, "--adapter", f.path("out"), "--to", to, "--format", format], environment: f.environment,
                directory: f.directory)
            #expect(e.status == 0, "\(format): \(e.stderr)")
            let back = f.path("back-\(format).mtf")
            let c = try CLI.run(["convert", to, "-o", back], environment: f.environment, directory: f.directory)
            #expect(c.status == 0, "\(format): \(c.stderr)")
            let i = try CLI.run(["inspect", back], environment: f.environment, directory: f.directory)
            #expect(i.stdout.contains("architecture phi3") && i.stdout.contains("sliding window 4"), "\(format): \(i.stdout)")
        }
        if name == "tiny_phi3" {
            let config = try String(contentsOfFile: f.path("hf/config.json"), encoding: .utf8)
            #expect(config.contains("\"Phi3ForCausalLM\"") && config.contains("\"sliding_window\": 4"), "\(config)")
        }
        let peft = try CLI.run(
            ["export", "--model", mtf, "--adapter", f.path("out"), "--to", f.path("peft"), "--format", "peft"], environment: f.environment,
            directory: f.directory)
        #expect(peft.status == 0, "\(peft.stderr)")
        let adapterConfig = try String(contentsOfFile: f.path("peft/adapter_config.json"), encoding: .utf8)
        #expect(adapterConfig.contains("\"qkv_proj\"") && adapterConfig.contains("\"gate_up_proj\""), "\(adapterConfig)")
        #expect(!adapterConfig.contains("\"q_proj\""), "\(adapterConfig)")

        // A target list that splits a fused module is refused, naming it.
        let split = try CLI.run(
            ["train", "--model", mtf, "--data", f.path("phi3.jsonl"), "--output", f.path("split"), "--lora-targets", "q,v", "--max-steps", "1"],
            environment: f.environment, directory: f.directory)
        #expect(split.status != 0 && split.stderr.contains("qkv_proj"), "\(split.stderr)")
    }
}

extension CLITests {
    /// Two DPO steps on the tiny Phi-3 from a fixed nonzero PEFT adapter on qkv_proj, o_proj, gate_up_proj and
    /// down_proj (the reference is the base) against TRL 1.16's DPOTrainer from the same adapter with the same
    /// optimizer settings (Tests/TrainingTests/Fixtures/phi3_dpo_2steps.json). One batch holds all 4
    /// conversational pairs, so shuffling cannot differ. Loss, rewards and grad_norm within 1e-5 abs; summed
    /// log-probabilities (≈ −47 and −116, f32 sums) within 1e-6 relative.
    @Test func phi3TwoDPOStepsMatchTRL() throws {
        let f = try CLIFixture()
        let root = TestPaths.repositoryRoot + "/Tests/"
        let fixture = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "TrainingTests/Fixtures/phi3_dpo_2steps.json")))
                as? [String: Any])
        let records = try #require(fixture["records"] as? [Any])
        let lines = try records.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: f.path("pairs.jsonl")))
        let mtf = f.path("phi3.mtf")
        let convert = try CLI.run(["convert", root + "ModelTests/Fixtures/tiny_phi3", "-o", mtf], environment: f.environment, directory: f.directory)
        #expect(convert.status == 0, "\(convert.stderr)")
        let train = try CLI.run(
            [
                "train", "--model", mtf, "--data", f.path("pairs.jsonl"), "--output", f.path("out"), "--threads", "1",
                "--init-adapter", root + "TrainingTests/Fixtures/phi3_adapter_r2", "--lora-r", "2", "--lora-alpha", "4",
                "--lora-targets", "qkv_proj,o_proj,gate_up_proj,down_proj", "--lr", "5e-3", "--lr-scheduler-type", "constant",
                "--warmup-steps", "0", "--weight-decay", "0", "--max-grad-norm", "1", "--batch-size", "4", "--max-steps", "2",
                "--logging-steps", "1", "--beta", "0.1",
            ], environment: f.environment, directory: f.directory)
        #expect(train.status == 0, "\(train.stderr)")
        let ours = f.metrics("out")
        let theirs = try #require(fixture["steps"] as? [[String: Any]])
        #expect(ours.count == 2 && theirs.count == 2)
        var worst: [String: Double] = [:]
        for (o, t) in zip(ours, theirs) {
            for (key, value) in t where key != "step" {
                let want = try #require(value as? Double), got = try #require(o[key] as? Double, "\(key) missing")
                let tolerance = key.hasPrefix("logps/") ? 1e-6 * abs(want) : 1e-5
                #expect(abs(got - want) <= tolerance, "step \(t["step"]!): \(key) \(got) vs TRL \(want)")
                worst[key] = max(worst[key] ?? 0, abs(got - want))
            }
        }
        print("phi3 DPO vs TRL, max |Δ| per metric: \(worst.sorted { $0.key < $1.key })")
    }
}
