// Gemma 2 and Gemma 3 against TRL's DPOTrainer (Tests/TrainingTests/Fixtures/gemma{2,3}_dpo.json, from
// tools/reference/gen_gemma_dpo_fixtures.py): each tiny model with its SentencePiece tokenizer and the family's chat
// template, converted from its HF directory, trained 2 steps from the shared PEFT init (gemma{2,3}_adapter_r2). The
// tokenized records equal TRL's (one BOS, from the template; Gemma 3's folds a system message into the first user
// turn) and every logged value per step matches.

import Foundation
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Training

extension TrainerTests {
    @Suite struct GemmaDPOParity {
        @Test(arguments: ["gemma2", "gemma3"])
        func dpoStepsMatchTRL(_ family: String) throws {
            _ = TrainerFixture.isolateCache
            let dir = TestPaths.temporaryDirectory("\(family)-dpo-parity")
            let run = try TRLRun("\(family)_dpo.json", directory: dir)
            let source = try HFModelSource(directory: TestPaths.repositoryRoot + "/Tests/ModelFilesTests/Fixtures/tiny_\(family)_spm")
            let modelPath = dir + "/\(family).mtf"
            try Converter.convert(source: source, to: modelPath, dtype: .f32, progress: nil)
            let a = try run.arguments(model: modelPath, output: dir + "/out", initAdapter: "\(family)_adapter_r2")
            let model = try LlamaModel(path: modelPath, threads: 2)
            let trainer = try Trainer(arguments: a, model: model, context: try ModelText(model.file.metadata).context)

            // Tokenization exactly as TRL's dataset: the template writes the one BOS.
            let pairs = try #require(run.fixture["pairs"] as? [[String: Any]])
            expectPairsMatch(trainer.train.pairs, pairs, label: "\(family) record")
            for (i, p) in trainer.train.pairs.enumerated() {
                #expect(p.promptIds.first == 2 && p.promptIds.dropFirst().first != 2, "\(family) record \(i): one BOS")
            }

            // loss and grad_norm 1e-5 (the bar); rewards/* 1e-5·(1 + |value|·10); logps/* (sums of ~10–30
            // log-probs) 1e-4; logits/* and entropy 1e-5.
            let tolerance: [String: Double] = [
                "loss": 1e-5, "grad_norm": 1e-5, MetricKey.rewardsChosen: 2e-5, MetricKey.rewardsRejected: 2e-5,
                MetricKey.rewardsMargins: 2e-5, MetricKey.rewardsAccuracies: 0, MetricKey.logpsChosen: 1e-4,
                MetricKey.logpsRejected: 1e-4, MetricKey.logitsChosen: 1e-5, MetricKey.logitsRejected: 1e-5,
                MetricKey.entropy: 1e-5,
            ]
            run.expectLogsMatch(try trainer.record().logs, tolerance: tolerance, label: "\(family) DPO parity")
        }
    }
}
