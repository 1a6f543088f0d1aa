// Whole DPO records tokenized with a SentencePiece (Llama 2 style) tokenizer match TRL 1.16's tokenization
// (Tests/TokenizerTests/Fixtures/spm/spm_dpo.json, from tools/reference/gen_spm_tokenizer_fixtures.py): plain
// records get BOS from the tokenizer, conversational ones from the chat template's {{ bos_token }}, never both.
// Also Mistral-7B-Instruct-v0.1's template with the same tokenizer (mistral_dpo.json, gen_mistral_fixtures.py).

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
        // The architecture decides how transformers builds the tokenizer (Mistral: tokenizer.json as written).
        var config = ModelConfig(
            architecture: variant == "mistral" ? .mistral : .llama, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1,
            numAttentionHeads: 4, numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, vocabSize: 1,
            tieWordEmbeddings: true)
        let (tokenizer, template) = try HFTokenizer.load(directory: fixtures + "/" + variant, config: config, notes: &notes)
        config.vocabSize = tokenizer.vocab.count
        let provenance = Provenance(sourceFormat: "safetensors", sourceName: variant, sourceXxh64: "0", converter: "test", converterVersion: "0")
        return try ModelText(MTFMetadata(config: config, tokenizer: tokenizer, chatTemplate: template, provenance: provenance))
    }

    @Test(arguments: [("llama_hub", "spm_dpo.json"), ("llama_nonlegacy", "spm_dpo.json"), ("mistral", "mistral_dpo.json")])
    func recordsMatchTRL(_ variant: String, _ file: String) throws {
        let root = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/" + file))) as? [String: Any])
        let rows = try #require((root["variants"] as? [String: Any])?[variant] as? [[String: Any]])
        #expect(rows.count >= 4)
        let text = try Self.modelText(variant)
        let bos = try #require(text.tokenizer.bosTokenId)
        for (i, row) in rows.enumerated() {
            let dataset = try datasetOfRecord(row, context: text.context, file: "spm.jsonl")
            let pair = try #require(dataset.pairs.first, "\(variant) row \(i) was dropped")
            expectPairsMatch([pair], [row], label: "\(variant) row \(i)")
            // Exactly one BOS, at the start (TRL's ids say so too; this names the failure if they ever did not).
            #expect(pair.chosen.ids.first == bos && pair.chosen.ids.dropFirst().first != bos, "\(variant) row \(i) BOS")
            #expect(dataset.summary.warnings.isEmpty, "\(variant) row \(i): \(dataset.summary.warnings)")
        }
    }
}
