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
        let (mtf, _) = try f.roundTrip(
            "ModelTests/Fixtures/" + name, name: "phi3", expecting: ["architecture phi3", "sliding window 4", "SentencePiece BPE"],
            conversations: [
                #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "One?"}, {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "Two?"}], "chosen": [{"role": "assistant", "content": "No."}], "rejected": [{"role": "assistant", "content": "Ünïcödé"}]}"#
            ])

        // Every export succeeds; hf and gguf convert back to a Phi-3 with its window.
        try f.exportAndConvertBack(model: mtf, expecting: ["architecture phi3", "sliding window 4"])
        if name == "tiny_phi3" {
            let config = try String(contentsOfFile: f.path("hf/config.json"), encoding: .utf8)
            #expect(config.contains("\"Phi3ForCausalLM\"") && config.contains("\"sliding_window\": 4"), "\(config)")
        }
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
    /// down_proj (`--reference base`) against TRL 1.16's DPOTrainer from the same adapter with the same
    /// optimizer settings (Tests/TrainingTests/Fixtures/phi3_dpo_2steps.json). One batch holds all 4
    /// conversational pairs, so shuffling cannot differ. Loss, rewards and grad_norm within 1e-5 abs; summed
    /// log-probabilities (≈ −47 and −116, f32 sums) within 1e-6 relative.
    @Test func phi3TwoDPOStepsMatchTRL() throws {
        try CLIFixture().twoDPOStepsMatchTRL(
            family: "phi3", source: TestPaths.repositoryRoot + "/Tests/ModelTests/Fixtures/tiny_phi3",
            targets: "qkv_proj,o_proj,gate_up_proj,down_proj")
    }
}
