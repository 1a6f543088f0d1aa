// Whole DPO records tokenized with a SentencePiece (Llama 2 style) tokenizer match TRL 1.16's tokenization
// (Tests/TokenizerTests/Fixtures/spm/spm_dpo.json, from tools/reference/gen_spm_tokenizer_fixtures.py): plain
// records get BOS from the tokenizer, conversational ones from the chat template's {{ bos_token }}, never both.

import Foundation
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Training

@Suite struct SentencePieceDPOTests {
    static let fixtures = TestPaths.repositoryRoot + "/Tests/TokenizerTests/Fixtures/spm"

    /// The model text as `leandpo train` builds it from a converted directory: tokenizer + chat template.
    static func modelText(_ variant: String) throws -> ModelText {
        var notes: [String] = []
        let (tokenizer, template) = try HFTokenizer.load(directory: fixtures + "/" + variant, config: nil, notes: &notes)
        let config = ModelConfig(
            architecture: .llama, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
            numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, vocabSize: tokenizer.vocab.count,
            tieWordEmbeddings: true)
        let provenance = Provenance(sourceFormat: "safetensors", sourceName: variant, sourceXxh64: "0", converter: "test", converterVersion: "0")
        return try ModelText(MTFMetadata(config: config, tokenizer: tokenizer, chatTemplate: template, provenance: provenance))
    }

    @Test(arguments: ["llama_hub", "llama_nonlegacy"]) func recordsMatchTRL(_ variant: String) throws {
        let root = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/spm_dpo.json"))) as? [String: Any])
        let rows = try #require((root["variants"] as? [String: Any])?[variant] as? [[String: Any]])
        #expect(rows.count >= 6)
        let text = try Self.modelText(variant)
        let bos = try #require(text.tokenizer.bosTokenId)
        for (i, row) in rows.enumerated() {
            let record = try #require(row["record"])
            let line = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
            let records = try PreferenceData.parse(Array(line.utf8), file: "spm.jsonl")
            let dataset = try PreferenceDataset.make(records, context: text.context, options: DataOptions())
            let pair = try #require(dataset.pairs.first, "\(variant) row \(i) was dropped")
            #expect(pair.promptIds == row["prompt_ids"] as? [Int], "\(variant) row \(i) prompt")
            #expect(pair.chosenIds == row["chosen_ids"] as? [Int], "\(variant) row \(i) chosen")
            #expect(pair.rejectedIds == row["rejected_ids"] as? [Int], "\(variant) row \(i) rejected")
            // Exactly one BOS, at the start (TRL's ids say so too; this names the failure if they ever did not).
            #expect(pair.chosen.ids.first == bos && pair.chosen.ids.dropFirst().first != bos, "\(variant) row \(i) BOS")
            #expect(dataset.summary.warnings.isEmpty, "\(variant) row \(i): \(dataset.summary.warnings)")
        }
    }
}
