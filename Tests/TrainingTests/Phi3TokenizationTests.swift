// Whole DPO records tokenized for the tiny Phi-3 (Llama-2-style SentencePiece pieces plus Phi-3's added tokens,
// rstrip on the chat markers, Phi-3's chat template) match TRL 1.16's tokenization
// (Tests/TokenizerTests/Fixtures/spm/phi3_dpo.json, from tools/reference/gen_phi3_fixtures.py). transformers 5
// loads a phi3 tokenizer.json as written: plain records get BOS from its post-processor, conversational ones
// none (the template has no {{ bos_token }}); never two.

import Foundation
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Training

@Suite struct Phi3TokenizationTests {
    static let fixtures = TestPaths.repositoryRoot + "/Tests/TokenizerTests/Fixtures/spm"

    /// The tokenizer and template as `convert` reads the phi3 directory.
    static func modelText() throws -> ModelText {
        var notes: [String] = []
        var config = ModelConfig(
            architecture: .phi3, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 4,
            numKeyValueHeads: 2, rmsNormEps: 1e-5, ropeTheta: 10000, maxPositionEmbeddings: 256, vocabSize: 1, tieWordEmbeddings: false)
        let (tokenizer, template) = try HFTokenizer.load(directory: Self.fixtures + "/phi3", config: config, notes: &notes)
        config.vocabSize = tokenizer.vocab.count
        let provenance = Provenance(sourceFormat: "safetensors", sourceName: "phi3", sourceXxh64: "0", converter: "test", converterVersion: "0")
        return try ModelText(MTFMetadata(config: config, tokenizer: tokenizer, chatTemplate: template, provenance: provenance))
    }

    /// The ids (BOS from the post-processor) and decodes of 465 corpus strings plus 12 with Phi-3's markers inside
    /// text (rstrip takes the whitespace after them) equal transformers' (phi3_encodings.json).
    @Test func corpusMatchesTransformers() throws {
        let text = try Self.modelText()
        // JSONDecoder, not JSONSerialization, which drops a string's leading U+FEFF (corpus string 454).
        struct Encodings: Decodable {
            var strings: [String]
            var ids: [[Int]]
            var decoded: [String]
        }
        let e = try JSONDecoder().decode(Encodings.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/phi3_encodings.json")))
        let (strings, ids, decoded) = (e.strings, e.ids, e.decoded)
        #expect(strings.count == 477 && ids.count == strings.count)
        var bad: [String] = []
        for (i, s) in strings.enumerated() {
            let got = text.tokenizer.encode(s)
            if got != ids[i] || text.tokenizer.decode(got) != decoded[i] {
                bad.append("#\(i) \(s.debugDescription.prefix(50)): \(got.prefix(16)) vs \(ids[i].prefix(16))")
            }
        }
        #expect(bad.isEmpty, "\(bad.count) strings differ:\n\(bad.prefix(5).joined(separator: "\n"))")
    }

    @Test func recordsMatchTRL() throws {
        let text = try Self.modelText()

        let root = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/phi3_dpo.json"))) as? [String: Any])
        let rows = try #require((root["variants"] as? [String: Any])?["phi3"] as? [[String: Any]])
        #expect(rows.count == 5)
        let bos = try #require(text.tokenizer.bosTokenId)
        for (i, row) in rows.enumerated() {
            let dataset = try datasetOfRecord(row, context: text.context, file: "phi3.jsonl")
            let pair = try #require(dataset.pairs.first, "row \(i) was dropped")
            expectPairsMatch([pair], [row], label: "row \(i)")
            // At most one BOS, only at the start.
            #expect(!pair.chosen.ids.dropFirst().contains(bos), "row \(i) BOS inside")
            #expect(dataset.summary.warnings.isEmpty, "row \(i): \(dataset.summary.warnings)")
        }
    }
}
