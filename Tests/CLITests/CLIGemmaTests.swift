// The command line with a tiny Gemma 2 (Tests/ModelFilesTests/Fixtures/tiny_gemma2_spm, from
// tools/reference/gen_tiny_gemma_models.py): `convert` from the HF directory and from the GGUF llama.cpp's
// converter would write, `inspect` names the architecture, `train` 2 steps, `eval`, and `export` to hf, gguf and
// peft. Both conversions are the same model: their eval losses agree.

import Foundation
import TestSupport
import Testing

extension CLITests {
    @Test(arguments: ["tiny_gemma2_spm", "tiny_gemma2_spm.gguf"])
    func gemma2ConvertsTrainsEvaluatesAndExports(_ name: String) throws {
        let f = try CLIFixture()
        let source = TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/" + name
        let mtf = f.path("gemma.mtf")
        let convert = try CLI.run(["convert", source, "-o", mtf], environment: f.environment, directory: f.directory)
        #expect(convert.status == 0, "\(convert.stderr)")
        let inspect = try CLI.run(["inspect", mtf], environment: f.environment, directory: f.directory)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect(inspect.stdout.contains("architecture gemma2"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("soft caps attention 3.0, logits 2.0"), "\(inspect.stdout)")

        // Gemma's template raises on a system message, so the records are plain or user/assistant only.
        let lines = [
            #"{"prompt": "What is 2+2?", "chosen": " 4.", "rejected": " Five."}"#,
            #"{"prompt": " Name a color:", "chosen": " blue", "rejected": " 日本語 🙂"}"#,
            #"{"prompt": [{"role": "user", "content": "Hi!"}], "chosen": [{"role": "assistant", "content": "Hello."}], "rejected": [{"role": "assistant", "content": "Go away."}]}"#,
            #"{"prompt": [{"role": "user", "content": "Why?"}], "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#,
        ]
        let data = f.path("gemma.jsonl")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: data))
        let train = try CLI.run(
            ["train", "--model", mtf, "--data", data, "--output", f.path("out"), "--threads", "1", "--batch-size", "2", "--max-steps", "2"],
            environment: f.environment, directory: f.directory)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(!train.stderr.contains("two BOS"), "\(train.stderr)")
        let eval = try CLI.run(
            ["eval", "--model", mtf, "--data", data, "--adapter", f.path("out"), "--threads", "1"], environment: f.environment,
            directory: f.directory)
        #expect(eval.status == 0, "\(eval.stderr)")

        for (format, to) in [("hf", "merged-hf"), ("gguf", "merged.gguf"), ("peft", "adapter")] {
            let e = try CLI.run(
                ["export", "--model", mtf, "--adapter", f.path("out"), "--to", f.path(to), "--format", format], environment: f.environment,
                directory: f.directory)
            #expect(e.status == 0, "\(format): \(e.stderr)")
        }
        // The GGUF export converts back to the same model.
        let back = try CLI.run(["convert", f.path("merged.gguf"), "-o", f.path("back.mtf")], environment: f.environment, directory: f.directory)
        #expect(back.status == 0, "\(back.stderr)")
        let again = try CLI.run(["inspect", f.path("back.mtf")], environment: f.environment, directory: f.directory)
        #expect(again.stdout.contains("architecture gemma2"), "\(again.stdout)")
    }
}
