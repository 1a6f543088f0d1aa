// The real SmolLM2-135M-Instruct Q4_1 GGUF (skipped when absent): converted to an f32 MTF file, every
// tensor agrees with what transformers dequantizes from the same file (Fixtures/
// smollm2_gguf_transformers.json, made by tools/reference/gen_smollm2_gguf_fixture.py).

import Foundation
import ModelFiles
import TensorFile
import Testing
import TestSupport

enum SmolLM2GGUF {
    /// LEANDPO_GGUF, else the cache next to the f32 MTF (tools/fetch-model puts both there).
    static var path: String? {
        let env = ProcessInfo.processInfo.environment
        let candidates = [
            env["LEANDPO_GGUF"],
            env["LEANDPO_MODEL"].map { ($0 as NSString).deletingLastPathComponent + "/SmolLM2-135M-Instruct.Q4_1.gguf" },
            TestPaths.repositoryRoot + "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0) }
    }
}

@Test(.enabled(if: SmolLM2GGUF.path != nil, "SmolLM2 GGUF not found (run tools/fetch-model --gguf-only)"))
func smolLM2MatchesTransformers() throws {
    let fixture = try Fixture.json("smollm2_gguf_transformers.json") as! [String: Any]
    let dir = TempDir("smollm2")
    let source = try ModelImporter.open(SmolLM2GGUF.path!)
    let fingerprint = try Converter.convert(source: source, to: dir.file("smol.mtf"), dtype: .f32, progress: nil)
    let m = try MappedTensorFile(path: dir.file("smol.mtf"))
    #expect(m.fingerprint == fingerprint)

    // Config as transformers reads it.
    let fc = fixture["config"] as! [String: Any]
    let c = m.config
    #expect(c.hiddenSize == fc["hidden_size"] as! Int && c.intermediateSize == fc["intermediate_size"] as! Int)
    #expect(c.numHiddenLayers == fc["num_hidden_layers"] as! Int && c.numAttentionHeads == fc["num_attention_heads"] as! Int)
    #expect(c.numKeyValueHeads == fc["num_key_value_heads"] as! Int && c.headDim == fc["head_dim"] as! Int)
    #expect(c.rmsNormEps == fc["rms_norm_eps"] as! Double && c.ropeTheta == fc["rope_theta"] as! Double)
    #expect(c.maxPositionEmbeddings == fc["max_position_embeddings"] as! Int && c.vocabSize == fc["vocab_size"] as! Int)
    #expect(c.tieWordEmbeddings == fc["tie_word_embeddings"] as! Bool)
    #expect(c.architecture == .llama && c.bosTokenId == 1 && c.eosTokenIds == [2] && c.padTokenId == 2)

    // Tokenizer and template as the file holds them (gguf-py's gguf_dump.py shows the same).
    let t = m.metadata.tokenizer
    #expect(t.vocab.count == 49152 && t.merges.count == 48900 && t.merges.first == "Ġ t" && t.preTokenizer == "smollm")
    #expect(t.addedTokens.count == 17 && t.addedTokens.allSatisfy(\.special) && t.addedTokens.map(\.id) == Array(0..<17))
    #expect(t.bosToken == "<|im_start|>" && t.eosToken == "<|im_end|>" && t.unkToken == "<|endoftext|>" && !t.addBosToken)
    #expect(m.metadata.chatTemplate?.hasPrefix("{% for message in messages %}") == true)

    // Every tensor: the 16 sampled values bit for bit, sums to rounding (the orders of addition differ).
    let tensors = fixture["tensors"] as! [[String: Any]]
    #expect(Set(tensors.map { $0["name"] as! String }) == Set(m.tensors.map(\.name)))
    for ft in tensors {
        let name = ft["name"] as! String
        let v = try m.view(name)
        #expect(v.shape == ft["shape"] as! [Int], "\(name)")
        let x = UnsafeBufferPointer(start: v.floats!, count: v.info.elementCount)
        var sum = 0.0, sumSq = 0.0
        for f in x {
            sum += Double(f)
            sumSq += Double(f) * Double(f)
        }
        let wantSum = ft["sum"] as! Double, wantSq = ft["sum_sq"] as! Double
        #expect(abs(sum - wantSum) <= 1e-6 * max(1, abs(wantSum)), "\(name) sum \(sum) vs \(wantSum)")
        #expect(abs(sumSq - wantSq) <= 1e-6 * wantSq, "\(name) sum of squares \(sumSq) vs \(wantSq)")
        let indices = ft["indices"] as! [Int], values = ft["values"] as! [Double]
        for (k, (i, want)) in zip(indices, values).enumerated() {
            #expect(i == indexFor(k: k, count: x.count))
            #expect(x[i] == Float(want), "\(name)[\(i)] = \(x[i]), transformers has \(want)")
        }
    }
}

/// The fixed sample positions of the fixture: (k * 2654435761 + 97) mod count.
func indexFor(k: Int, count: Int) -> Int { (k * 2_654_435_761 + 97) % count }
