// The command line with a tiny Mistral (sliding window 4, SentencePiece tokenizer, Mistral-7B-Instruct-v0.1's
// chat template): `convert` from an HF directory (model_type mistral) and from a GGUF written as llama.cpp
// writes Mistral (architecture llama, llama.attention.sliding_window), `inspect` names the family, `train`
// 2 steps, `eval`, and `export` to hf, gguf and peft, each re-converted (Tests/ModelFilesTests/Fixtures/
// tiny_mistral_spm*, from tools/reference/gen_mistral_fixtures.py).

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(arguments: ["tiny_mistral_spm", "tiny_mistral_spm.gguf"])
    func mistralConvertsTrainsEvaluatesAndExports(_ name: String) throws {
        let f = try CLIFixture()
        let source = TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/" + name
        let (mtf, inspected) = try f.convertAndInspect(source, to: "mistral.mtf")
        #expect(inspected.contains("architecture mistral") && inspected.contains("sliding window 4"), "\(inspected)")
        #expect(inspected.contains("SentencePiece BPE"), "\(inspected)")

        // Mistral's template knows only user and assistant and wants them alternating.
        let records = CLIFixture.familyRecords([
            #"{"prompt": [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "Two?"}], "chosen": [{"role": "assistant", "content": "No."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
        ])
        try f.trainTwoStepsAndEvaluate(model: mtf, records: records, name: "mistral")

        // Every export converts back to a Mistral with its window.
        for (format, to) in [("hf", f.path("hf")), ("gguf", f.path("m.gguf"))] {
            let e = try CLI.run(
                ["export", "--model", mtf, "--adapter", f.path("out"), "--to", to, "--format", format], environment: f.environment,
                directory: f.directory)
            #expect(e.status == 0, "\(format): \(e.stderr)")
            let back = f.path("back-\(format).mtf")
            let c = try CLI.run(["convert", to, "-o", back], environment: f.environment, directory: f.directory)
            #expect(c.status == 0, "\(format): \(c.stderr)")
            let i = try CLI.run(["inspect", back], environment: f.environment, directory: f.directory)
            #expect(i.stdout.contains("architecture mistral") && i.stdout.contains("sliding window 4"), "\(format): \(i.stdout)")
        }
        if name == "tiny_mistral_spm" {
            let config = try String(contentsOfFile: f.path("hf/config.json"), encoding: .utf8)
            #expect(config.contains("\"MistralForCausalLM\"") && config.contains("\"sliding_window\": 4"), "\(config)")
        }
        let peft = try CLI.run(
            ["export", "--model", mtf, "--adapter", f.path("out"), "--to", f.path("peft"), "--format", "peft"], environment: f.environment,
            directory: f.directory)
        #expect(peft.status == 0, "\(peft.stderr)")
        #expect(FileManager.default.fileExists(atPath: f.path("peft/adapter_model.safetensors")))
    }
}

extension CLITests {
    /// Two DPO steps on the tiny Mistral from a fixed nonzero PEFT adapter (the reference is the base) against
    /// TRL 1.16's DPOTrainer from the same adapter with the same optimizer settings
    /// (Tests/TrainingTests/Fixtures/mistral_dpo_2steps.json, gen_mistral_fixtures.py). One batch holds all 4
    /// conversational pairs, so shuffling cannot differ. Loss, rewards and grad_norm within 1e-5 abs (measured
    /// ≤ 3e-7); summed log-probabilities (≈ −34 and −105, f32 sums) within 1e-6 relative (measured ≤ 8e-8).
    @Test func mistralTwoDPOStepsMatchTRL() throws {
        let f = try CLIFixture()
        let root = TestPaths.repositoryRoot + "/Tests/"
        let fixture = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "TrainingTests/Fixtures/mistral_dpo_2steps.json")))
                as? [String: Any])
        let records = try #require(fixture["records"] as? [Any])
        let lines = try records.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: f.path("pairs.jsonl")))
        let mtf = f.path("mistral.mtf")
        let convert = try CLI.run(
            ["convert", root + "ModelFilesTests/Fixtures/tiny_mistral_spm", "-o", mtf], environment: f.environment, directory: f.directory)
        #expect(convert.status == 0, "\(convert.stderr)")
        let train = try CLI.run(
            [
                "train", "--model", mtf, "--data", f.path("pairs.jsonl"), "--output", f.path("out"), "--threads", "1",
                "--init-adapter", root + "TrainingTests/Fixtures/mistral_adapter_r2", "--lora-r", "2", "--lora-alpha", "4",
                "--lora-targets", "all", "--lr", "5e-3", "--lr-scheduler-type", "constant", "--warmup-steps", "0", "--weight-decay", "0",
                "--max-grad-norm", "1", "--batch-size", "4", "--max-steps", "2", "--logging-steps", "1", "--beta", "0.1",
            ], environment: f.environment, directory: f.directory)
        #expect(train.status == 0, "\(train.stderr)")
        let ours = f.metrics("out")
        let theirs = try #require(fixture["steps"] as? [[String: Any]])
        #expect(ours.count == 2 && theirs.count == 2)
        for (o, t) in zip(ours, theirs) {
            for (key, value) in t where key != "step" {
                let want = try #require(value as? Double), got = try #require(o[key] as? Double, "\(key) missing")
                let tolerance = key.hasPrefix("logps/") ? 1e-6 * abs(want) : 1e-5
                #expect(abs(got - want) <= tolerance, "step \(t["step"]!): \(key) \(got) vs TRL \(want)")
            }
        }
    }
}
