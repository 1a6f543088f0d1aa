// The shapes behind `leandpo-bench make-shape` and `tools/bench --shape`: each one's parameter count is its
// model's published total (so a wrong config value or a missing or extra tensor shows), and a scaled-down
// copy of each architecture, written by the same code as make-shape, opens in LlamaModel (every tensor the
// config needs, by name and shape) and runs a forward and a training pass with finite results.

import Foundation
import Model
import ModelShapes
import TensorFile
import TestSupport
import Testing
import Tokenizer

@Suite(.serialized) struct ModelShapesTests {
    /// Published totals: the safetensors parameter counts on the Hub (Keras-Hub's presets list the same
    /// figures: gemma2_2b_en, gemma3_1b, mistral_7b_en, mistral_0.3_7b_en, qwen2.5_3b_en).
    static let published: [String: Int] = [
        "smollm2-135m": 134_515_008,
        "smollm2-360m": 361_821_120,
        "smollm2-1.7b": 1_711_376_384,
        "qwen2.5-0.5b": 494_032_768,
        "qwen2.5-1.5b": 1_543_714_304,
        "qwen2.5-3b": 3_085_938_688,
        "llama-3.2-1b": 1_235_814_400,
        "llama-3.2-3b": 3_212_749_824,
        "llama-3.1-8b": 8_030_261_248,
        "phi-3-mini": 3_821_079_552,
        "mistral-7b": 7_248_023_552,
        "mistral-7b-v0.1": 7_241_732_096,
        "gemma-2-2b": 2_614_341_888,
        "gemma-3-1b": 999_885_952,
        // Keras-Hub's gemma3_4b_text (the text tower alone): 3,880,099,328 with a 262,144-token vocabulary; the
        // Hugging Face text_config's 262,208 adds 64 rows of 2560 to the tied embedding.
        "gemma-3-4b": 3_880_099_328 + 64 * 2560,
    ]

    @Test func everyShapeHasAPublishedTotal() {
        #expect(Set(ModelShape.all.map(\.name)) == Set(Self.published.keys))
    }

    @Test(arguments: ModelShape.all.map(\.name))
    func parameterCountIsThePublishedTotal(name: String) throws {
        let shape = try #require(ModelShape.named(name))
        #expect(shape.parameterCount == Self.published[name])
        // The tensor list is the one the loader asks for, no more, no less.
        let listed = Dictionary(uniqueKeysWithValues: shape.tensors.map { ($0.name, $0.shape) })
        let required = Dictionary(uniqueKeysWithValues: shape.config.requiredTensors.map { ($0.name, $0.shape) })
        #expect(listed == required)
        try shape.config.validate()
    }

    @Test(arguments: ModelShape.all.map(\.name))
    func scaledDownShapeLoadsAndTrains(name: String) throws {
        let shape = try #require(ModelShape.named(name)).scaledDown()
        let path = TestPaths.temporaryDirectory("leandpo-shapes") + "/\(shape.name).bf16.mtf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try shape.write(
            to: path, dtype: .bf16, tokenizerFrom: TinyModelFile.metadata(shape.config, source: "tests"), seed: 1)

        let file = try MappedTensorFile(path: path)
        #expect(file.config == shape.config)
        // Norms have an effective scale of 1: Gemma's files keep w of (1 + w), the others the scale.
        let norm: Float = file.config.isGemma ? 0 : 1
        for t in file.tensors where t.name.hasSuffix("norm.weight") {
            #expect(try file.view(t.name).toFloats().allSatisfy { $0 == norm }, "\(t.name)")
        }

        let model = try LlamaModel(path: path, threads: 2)
        var rng = UInt64(7)
        let sequences: [[Int32]] = [24, 13].map { n in
            (0..<n).map { _ in
                rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int32((rng >> 33) % UInt64(shape.vocab))
            }
        }
        let batch = PackedBatch(sequences: sequences)
        let ranges = [4..<24, 2..<13]
        let base = try model.sequenceLogProbs(batch: batch, completionRanges: ranges)
        #expect(base.tokenLogProbs.allSatisfy { $0.isFinite && $0 < 0 })
        #expect(base.sums.allSatisfy { $0.isFinite })

        let adapter = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8), modelConfig: model.config, seed: 1)
        let train = try model.forwardBackward(batch: batch, completionRanges: ranges, adapter: adapter) { r in
            [Float](repeating: 1, count: r.tokenLogProbs.count)
        }
        #expect(train.tokenLogProbs == base.tokenLogProbs)
        // A fresh adapter (B = 0): every B gradient finite, some nonzero.
        var nonzero = false
        for e in adapter.entries {
            let db = UnsafeBufferPointer(start: adapter.db(e), count: e.outFeatures * adapter.rank)
            #expect(db.allSatisfy { $0.isFinite })
            nonzero = nonzero || db.contains { $0 != 0 }
        }
        #expect(nonzero)
    }

    /// SmolLM2's 49,152 tokens against Mistral's 32,768: the tokenizer is cut to the vocabulary with the merges
    /// that need a cut token (it still builds and encodes inside the vocabulary), or padded with unused tokens.
    @Test func tokenizerIsCutOrPaddedToTheVocabulary() throws {
        let base = TokenizerData(
            preTokenizer: "gpt2", vocab: ["<|endoftext|>", "a", "b", "c", "ab", "bc", "abc"], merges: ["a b", "b c", "ab c"],
            addedTokens: [AddedToken(id: 0, content: "<|endoftext|>"), AddedToken(id: 6, content: "abc")])
        let mistral = try #require(ModelShape.named("mistral-7b"))
        func fitted(_ vocab: Int) throws -> TokenizerData {
            var metadata = TinyModelFile.metadata(mistral.scaledDown(vocab: 7).config, source: "tests")
            metadata.tokenizer = base
            return RandomModelSource(shape: mistral.scaledDown(vocab: vocab), tokenizerFrom: metadata, seed: 1).metadata.tokenizer
        }
        #expect(try BPETokenizer(base).encode("abc", addSpecialTokens: false) == [6])
        let cut = try fitted(5)
        #expect(cut.vocab == ["<|endoftext|>", "a", "b", "c", "ab"])
        #expect(cut.merges == ["a b"])
        #expect(cut.addedTokens.map(\.id) == [0])
        #expect(try BPETokenizer(cut).encode("abc", addSpecialTokens: false) == [4, 3])
        let padded = try fitted(9)
        #expect(padded.vocab == base.vocab + ["<|unused_7|>", "<|unused_8|>"])
        #expect(padded.merges == base.merges)
    }
}
