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
        let (mtf, inspected) = try f.convertAndInspect(source, to: "gemma.mtf")
        #expect(inspected.contains("architecture gemma2"), "\(inspected)")
        #expect(inspected.contains("soft caps attention 3.0, logits 2.0"), "\(inspected)")

        // Gemma's template raises on a system message, so the records are plain or user/assistant only.
        let records = CLIFixture.familyRecords([
            #"{"prompt": [{"role": "user", "content": "Why?"}], "chosen": [{"role": "assistant", "content": "Because."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
        ])
        try f.trainTwoStepsAndEvaluate(model: mtf, records: records, name: "gemma")

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
