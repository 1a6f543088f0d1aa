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
        // Mistral's template knows only user and assistant and wants them alternating.
        let (mtf, _) = try f.roundTrip(
            "ModelFilesTests/Fixtures/" + name, name: "mistral",
            expecting: ["architecture mistral", "sliding window 4", "SentencePiece BPE"],
            conversations: [
                #"{"prompt": [{"role": "user", "content": "One?"}, {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "Two?"}], "chosen": [{"role": "assistant", "content": "No."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
            ])

        // Every export succeeds; hf and gguf convert back to a Mistral with its window.
        try f.exportAndConvertBack(model: mtf, expecting: ["architecture mistral", "sliding window 4"])
        if name == "tiny_mistral_spm" {
            let config = try String(contentsOfFile: f.path("hf/config.json"), encoding: .utf8)
            #expect(config.contains("\"MistralForCausalLM\"") && config.contains("\"sliding_window\": 4"), "\(config)")
        }
        #expect(FileManager.default.fileExists(atPath: f.path("peft/adapter_model.safetensors")))
    }
}

extension CLITests {
    /// Two DPO steps on the tiny Mistral from a fixed nonzero PEFT adapter (`--reference base`) against
    /// TRL 1.16's DPOTrainer from the same adapter with the same optimizer settings
    /// (Tests/TrainingTests/Fixtures/mistral_dpo_2steps.json, gen_mistral_fixtures.py). One batch holds all 4
    /// conversational pairs, so shuffling cannot differ. Loss, rewards and grad_norm within 1e-5 abs (measured
    /// ≤ 3e-7); summed log-probabilities (≈ −34 and −105, f32 sums) within 1e-6 relative (measured ≤ 8e-8).
    @Test func mistralTwoDPOStepsMatchTRL() throws {
        try CLIFixture().twoDPOStepsMatchTRL(
            family: "mistral", source: TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/tiny_mistral_spm", targets: "all")
    }

    /// The same adapter as the start and the reference (`--init-adapter` with the default `--reference initial`)
    /// against TRL handed it as a loaded PeftModel (mistral_dpo_2steps_initial_reference.json): TRL copies it into
    /// a frozen "ref" adapter, so both runs' first step is at ln 2 with zero rewards; same tolerances.
    @Test func mistralTwoDPOStepsFromALoadedAdapterMatchTRL() throws {
        try CLIFixture().twoDPOStepsMatchTRL(
            family: "mistral", source: TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/tiny_mistral_spm", targets: "all",
            reference: "initial")
    }
}
