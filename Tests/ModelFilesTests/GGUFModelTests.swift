// GGUF → model on tiny models the tests write: config keys, names, the llama Q/K permutation undone (the
// GGUF side is permuted here with llama.cpp's own reshape/swapaxes recipe), tied embeddings, tokenizer
// keys, llama3 rope factors, and clear errors for what is not supported.

import Foundation
import ModelFiles
import SeededRandom
import TensorFile
import TestSupport
import Testing

// MARK: - A tiny GGUF model

/// The GGUF tests' tiny shape: D 32, H 4 (2 kv) of 8, F 64, L 2, untied (the vocabulary is `tinyTokens`).
let tinyGGUFShape = TinyShape(dim: 32, headDim: 8, ffn: 64, tied: false)

let tinyTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "c", "Ġ", "ab", "Ġa", "<tool>"]
let tinyTokenTypes: [Int32] = [3, 3, 3, 1, 1, 1, 1, 1, 1, 4]

/// llama.cpp's permute: w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols).
func llamaCppPermute(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    let half = rows / heads / 2
    var out = [Float](repeating: 0, count: w.count)
    for h in 0..<heads {
        for j in 0..<half {
            for s in 0..<2 {
                let dst = h * 2 * half + j * 2 + s  // index in the (n_head, half, 2) order after swapaxes
                let src = h * 2 * half + s * half + j  // index in the (n_head, 2, half) order before
                for c in 0..<cols { out[dst * cols + c] = w[src * cols + c] }
            }
        }
    }
    return out
}

/// Q8_0 blocks for values that are exactly integers / 64 (so dequantization is exact).
func q8_0Bytes(_ x: [Float]) -> [UInt8] {
    precondition(x.count % 32 == 0)
    var out: [UInt8] = []
    for b in 0..<(x.count / 32) {
        out += le(floatToHalf(1.0 / 64))
        for j in 0..<32 { out.append(UInt8(bitPattern: Int8(x[b * 32 + j] * 64))) }
    }
    return out
}

/// Writes a tiny model; returns the HF-named weights it holds (as f32 after the file's rounding).
func writeTinyGGUF(_ d: TinyShape, to path: String, edit: (inout GGUFBuilder) -> Void = { _ in }) throws -> [String: [Float]] {
    var rng = SplitMix64(seed: 7)
    var b = GGUFBuilder()
    let arch = d.architecture.rawValue, a = arch + "."
    b.add("general.architecture", .string(arch))
    b.add("general.name", .string("tiny"))
    b.add(a + "block_count", .uint32(UInt32(d.layers)))
    b.add(a + "context_length", .uint32(512))
    b.add(a + "embedding_length", .uint32(UInt32(d.dim)))
    b.add(a + "feed_forward_length", .uint32(UInt32(d.ffn)))
    b.add(a + "attention.head_count", .uint32(UInt32(d.heads)))
    b.add(a + "attention.head_count_kv", .uint32(UInt32(d.kvHeads)))
    b.add(a + "rope.freq_base", .float32(100000))
    b.add(a + "attention.layer_norm_rms_epsilon", .float32(1e-5))
    b.add(a + "rope.dimension_count", .uint32(UInt32(d.config.headDim)))
    b.add(a + "vocab_size", .uint32(UInt32(tinyTokens.count)))
    b.add("tokenizer.ggml.model", .string("gpt2"))
    b.add("tokenizer.ggml.pre", .string("smollm"))
    b.add("tokenizer.ggml.tokens", .array(.string, tinyTokens.map { .string($0) }))
    b.add("tokenizer.ggml.token_type", .array(.int32, tinyTokenTypes.map { .int32($0) }))
    b.add("tokenizer.ggml.merges", .array(.string, [.string("a b"), .string("Ġ a")]))
    b.add("tokenizer.ggml.bos_token_id", .uint32(1))
    b.add("tokenizer.ggml.eos_token_id", .uint32(2))
    b.add("tokenizer.ggml.unknown_token_id", .uint32(0))
    b.add("tokenizer.ggml.padding_token_id", .uint32(2))
    b.add("tokenizer.ggml.add_bos_token", .bool(false))
    b.add("tokenizer.chat_template", .string("{% for m in messages %}{{ m['content'] }}{% endfor %}"))

    var hf: [String: [Float]] = [:]
    func random(_ n: Int) -> [Float] { (0..<n).map { _ in rng.float() } }
    func f32(_ gguf: String, _ name: String, _ shape: [Int]) {
        let x = random(shape.reduce(1, *))
        b.tensor(gguf, ne: shape.reversed(), floats: x)
        hf[name] = x
    }
    let v = tinyTokens.count, h = d.dim, q = d.heads * d.config.headDim, kv = d.kvHeads * d.config.headDim
    // Embedding in F16: the expected values are the f16-rounded ones.
    let emb = random(v * h).map { halfToFloat(floatToHalf($0)) }
    b.tensor("token_embd.weight", ne: [h, v], type: .f16, data: emb.flatMap { le(floatToHalf($0)) })
    hf["model.embed_tokens.weight"] = emb
    f32("output_norm.weight", "model.norm.weight", [h])
    if !d.tied { f32("output.weight", "lm_head.weight", [v, h]) }
    for l in 0..<d.layers {
        let p = "model.layers.\(l)."
        f32("blk.\(l).attn_norm.weight", p + "input_layernorm.weight", [h])
        // Q and K in Q8_0 (exact values), permuted as llama.cpp does for the llama architecture.
        for (g, name, rows, heads) in [("attn_q", "q_proj", q, d.heads), ("attn_k", "k_proj", kv, d.kvHeads)] {
            let w = (0..<(rows * h)).map { _ in Float(rng.int(255) - 127) / 64 }
            let stored = arch == "llama" ? llamaCppPermute(w, rows: rows, cols: h, heads: heads) : w
            b.tensor("blk.\(l).\(g).weight", ne: [h, rows], type: .q8_0, data: q8_0Bytes(stored))
            hf[p + "self_attn.\(name).weight"] = w
            if d.bias {
                let bias = random(rows)
                let storedBias = arch == "llama" ? llamaCppPermute(bias, rows: rows, cols: 1, heads: heads) : bias
                b.tensor("blk.\(l).\(g).bias", ne: [rows], floats: storedBias)
                hf[p + "self_attn.\(name).bias"] = bias
            }
        }
        f32("blk.\(l).attn_v.weight", p + "self_attn.v_proj.weight", [kv, h])
        if d.bias { f32("blk.\(l).attn_v.bias", p + "self_attn.v_proj.bias", [kv]) }
        // o_proj in BF16.
        let o = random(h * q).map { bf16ToFloat(floatToBF16($0)) }
        b.tensor("blk.\(l).attn_output.weight", ne: [q, h], type: .bf16, data: o.flatMap { le(floatToBF16($0)) })
        hf[p + "self_attn.o_proj.weight"] = o
        if arch == "qwen3" {
            f32("blk.\(l).attn_q_norm.weight", p + "self_attn.q_norm.weight", [d.config.headDim])
            f32("blk.\(l).attn_k_norm.weight", p + "self_attn.k_norm.weight", [d.config.headDim])
        }
        f32("blk.\(l).ffn_norm.weight", p + "post_attention_layernorm.weight", [h])
        f32("blk.\(l).ffn_gate.weight", p + "mlp.gate_proj.weight", [d.ffn, h])
        f32("blk.\(l).ffn_up.weight", p + "mlp.up_proj.weight", [d.ffn, h])
        f32("blk.\(l).ffn_down.weight", p + "mlp.down_proj.weight", [h, d.ffn])
    }
    edit(&b)
    try b.write(to: path)
    return hf
}

// MARK: - Tests

@Test func permutationHelpersAreInverse() {
    for hd in [2, 8, 64, 128] {
        for r in 0..<(3 * hd) {
            #expect(LlamaQKPermutation.hfRow(forGGUFRow: LlamaQKPermutation.ggufRow(forHFRow: r, headDim: hd), headDim: hd) == r)
        }
    }
    // llama.cpp's recipe applied to row indices agrees with the index rule.
    let rows = 4 * 8
    let permuted = llamaCppPermute((0..<rows).map(Float.init), rows: rows, cols: 1, heads: 4)
    for g in 0..<rows { #expect(Int(permuted[g]) == LlamaQKPermutation.hfRow(forGGUFRow: g, headDim: 8)) }
}

@Test(arguments: [false, true])
func llamaGGUFImportUndoesThePermutation(bias: Bool) throws {
    let dir = TempDir()
    var d = tinyGGUFShape
    d.bias = bias
    let expected = try writeTinyGGUF(d, to: dir.file("tiny.gguf"))
    let source = try ModelImporter.open(dir.file("tiny.gguf"))
    let c = source.metadata.config
    #expect(c.architecture == .llama)
    #expect((c.hiddenSize, c.intermediateSize, c.numHiddenLayers) == (32, 64, 2))
    #expect((c.numAttentionHeads, c.numKeyValueHeads, c.headDim) == (4, 2, 8))
    #expect(c.ropeTheta == 100000 && c.rmsNormEps == Double(Float(1e-5)) && c.maxPositionEmbeddings == 512)
    #expect(c.vocabSize == 10 && !c.tieWordEmbeddings && c.attentionBias == bias && !c.qkNorm)
    #expect(c.bosTokenId == 1 && c.eosTokenIds == [2] && c.padTokenId == 2)
    #expect(Set(source.tensors.map(\.name)) == Set(expected.keys))
    #expect(source.tensors.first { $0.name == "model.layers.0.self_attn.q_proj.weight" }?.sourceDType == "Q8_0")
    #expect(source.tensors.first { $0.name == "model.embed_tokens.weight" }?.shape == [10, 32])
    let loaded = try loadAll(source)
    for (name, x) in expected { #expect(loaded[name] == x, "\(name)") }
}

@Test func tokenizerAndTemplateComeFromTheGGUFKeys() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("tiny.gguf"))
    let m = try ModelImporter.open(dir.file("tiny.gguf")).metadata
    let t = m.tokenizer
    #expect(t.vocab == tinyTokens && t.merges == ["a b", "Ġ a"] && t.preTokenizer == "smollm")
    #expect(t.addedTokens.map(\.id) == [0, 1, 2, 9])
    #expect(t.addedTokens.map(\.special) == [true, true, true, false])
    #expect(t.addedTokens.last?.content == "<tool>")
    #expect(t.bosToken == "<|im_start|>" && t.eosToken == "<|im_end|>" && t.padToken == "<|im_end|>" && t.unkToken == "<|endoftext|>")
    #expect(!t.addBosToken)
    #expect(m.chatTemplate == "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    #expect(m.provenance.sourceFormat == "gguf" && m.provenance.sourceName == "tiny.gguf" && m.provenance.sourceXxh64.count == 16)
}

@Test(arguments: [("llama-bpe", "llama3"), ("llama3", "llama3"), ("qwen2", "qwen2"), ("gpt-2", "gpt2"), ("gpt2", "gpt2"), ("smollm", "smollm")])
func preTokenizerNamesMap(pre: String, expected: String) throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("t.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.pre" ? ($0.0, .string(pre)) : $0 }
    }
    #expect(try ModelImporter.open(dir.file("t.gguf")).metadata.tokenizer.preTokenizer == expected)
}

@Test func missingPreTokenizerFallsBackToGPT2WithANote() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("t.gguf")) { b in b.kvs.removeAll { $0.0 == "tokenizer.ggml.pre" } }
    let s = try ModelImporter.open(dir.file("t.gguf"))
    #expect(s.metadata.tokenizer.preTokenizer == "gpt2")
    #expect(s.notes.contains { $0.contains("tokenizer.ggml.pre") })
}

@Test func tiedEmbeddingsWhenOutputIsAbsent() throws {
    let dir = TempDir()
    var d = tinyGGUFShape
    d.tied = true
    _ = try writeTinyGGUF(d, to: dir.file("t.gguf"))
    let s = try ModelImporter.open(dir.file("t.gguf"))
    #expect(s.metadata.config.tieWordEmbeddings)
    #expect(!s.tensors.contains { $0.name == "lm_head.weight" })
}

@Test(arguments: ["qwen2", "qwen3"])
func qwenGGUFIsNotPermuted(arch: String) throws {
    let dir = TempDir()
    var d = tinyGGUFShape
    d.architecture = try #require(ModelConfig.Architecture(rawValue: arch))
    d.bias = arch == "qwen2"
    let expected = try writeTinyGGUF(d, to: dir.file("q.gguf")) { b in
        b.add("\(arch).attention.key_length", .uint32(8))
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.pre" ? ($0.0, .string("qwen2")) : $0 }
    }
    let s = try ModelImporter.open(dir.file("q.gguf"))
    let c = s.metadata.config
    #expect(c.architecture.rawValue == arch)
    #expect(c.attentionBias == (arch == "qwen2") && c.qkNorm == (arch == "qwen3"))
    #expect(s.metadata.tokenizer.preTokenizer == "qwen2")
    let loaded = try loadAll(s)
    for (name, x) in expected { #expect(loaded[name] == x, "\(name)") }
}

@Test func llama3RopeFactorsBecomeRopeScaling() throws {
    let dir = TempDir()
    var d = tinyGGUFShape
    (d.heads, d.kvHeads, d.headDim, d.dim) = (2, 1, 64, 128)
    let want = RopeScaling(ropeType: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)
    // The factors as llama.cpp's converter writes them (generate_extra_tensors), computed here independently.
    let factors: [Float] = (0..<32).map { i in
        let freq = 1 / pow(500000.0, Double(2 * i) / 64), wavelen = 2 * Double.pi / freq
        if wavelen < 8192.0 / 4 { return 1 }
        if wavelen > 8192.0 / 1 { return 32 }
        let smooth = (8192 / wavelen - 1) / (4 - 1)
        return Float(1 / ((1 - smooth) / 32 + smooth))
    }
    _ = try writeTinyGGUF(d, to: dir.file("l3.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "llama.rope.freq_base" ? ($0.0, .float32(500000)) : $0 }
        b.tensor("rope_freqs.weight", ne: [32], floats: factors)
    }
    let s = try ModelImporter.open(dir.file("l3.gguf"))
    #expect(s.metadata.config.ropeScaling == want)
    #expect(!s.tensors.contains { $0.name.contains("rope_freqs") })
    #expect(s.notes.contains { $0.contains("rope_freqs.weight") })
}

@Test func ropeFactorsThatAreNotLlama3AreRefused() throws {
    let dir = TempDir()
    var d = tinyGGUFShape
    (d.heads, d.kvHeads, d.headDim, d.dim) = (2, 1, 64, 128)
    _ = try writeTinyGGUF(d, to: dir.file("bad.gguf")) { b in
        b.tensor("rope_freqs.weight", ne: [32], floats: (0..<32).map { Float(1 + $0 % 3) })
    }
    expectModelError("rope_freqs.weight", kind: .unsupported) { _ = try ModelImporter.open(dir.file("bad.gguf")) }
}

// MARK: - What is refused

@Test func unsupportedQuantTypeNamesTheTensorAndTypeId() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("t.gguf")) { b in
        let i = b.tensors.firstIndex { $0.name == "blk.1.ffn_up.weight" }!
        b.tensors[i] = GGUFBuilder.Tensor(
            name: "blk.1.ffn_up.weight", ne: [256, 64], typeId: GGMLType.iq2_xxs.rawValue, data: [UInt8](repeating: 0, count: 64 * 66))
    }
    expectModelError("tensor blk.1.ffn_up.weight", "IQ2_XXS (id 16)", kind: .unsupported) {
        _ = try ModelImporter.open(dir.file("t.gguf"))
    }
}

@Test func unsupportedArchitectureAndTokenizerAreNamed() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("g.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "general.architecture" ? ($0.0, .string("falcon")) : $0 }
    }
    expectModelError("architecture falcon is not supported", "general.architecture", kind: .unsupported) {
        _ = try ModelImporter.open(dir.file("g.gguf"))
    }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("s.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.model" ? ($0.0, .string("llama")) : $0 }
    }
    // A SentencePiece ("llama") tokenizer needs its scores; an unknown model is named.
    expectModelError("tokenizer.ggml.scores is missing", kind: .missing) { _ = try ModelImporter.open(dir.file("s.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("u.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.model" ? ($0.0, .string("bert")) : $0 }
    }
    expectModelError("tokenizer model bert is not supported", kind: .unsupported) { _ = try ModelImporter.open(dir.file("u.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("p.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.pre" ? ($0.0, .string("deepseek-llm")) : $0 }
    }
    expectModelError("pre-tokenizer deepseek-llm is not supported", kind: .unsupported) { _ = try ModelImporter.open(dir.file("p.gguf")) }
}

@Test func badTokenizerAndConfigKeysAreNamed() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("a.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.bos_token_id" ? ($0.0, .uint32(99)) : $0 }
    }
    expectModelError("tokenizer.ggml.bos_token_id 99 is out of range (10 tokens)") { _ = try ModelImporter.open(dir.file("a.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("b.gguf")) { b in b.kvs.removeAll { $0.0 == "llama.embedding_length" } }
    expectModelError("required key llama.embedding_length is missing", kind: .missing) { _ = try ModelImporter.open(dir.file("b.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("c.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "llama.block_count" ? ($0.0, .string("two")) : $0 }
    }
    expectModelError("llama.block_count must be an integer, found string") { _ = try ModelImporter.open(dir.file("c.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("d.gguf")) { b in
        b.kvs = b.kvs.map { $0.0 == "tokenizer.ggml.token_type" ? ($0.0, .array(.int32, [.int32(1)])) : $0 }
    }
    expectModelError("token_type has 1 entries for 10 tokens") { _ = try ModelImporter.open(dir.file("d.gguf")) }
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("e.gguf")) { b in b.tensor("blk.7.attn_q.weight", ne: [4], floats: [1, 2, 3, 4]) }
    expectModelError("tensor blk.7.attn_q.weight has no Hugging Face counterpart") { _ = try ModelImporter.open(dir.file("e.gguf")) }
}

@Test func missingAndMisshapedTensorsFailTheConversion() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("m.gguf")) { b in b.tensors.removeAll { $0.name == "blk.1.ffn_down.weight" } }
    let s = try ModelImporter.open(dir.file("m.gguf"))
    expectModelError("required tensor model.layers.1.mlp.down_proj.weight is missing", kind: .missing) {
        try Converter.convert(source: s, to: dir.file("m.mtf"), dtype: .f32, progress: nil)
    }
    #expect(!FileManager.default.fileExists(atPath: dir.file("m.mtf")))
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("n.gguf")) { b in
        let i = b.tensors.firstIndex { $0.name == "blk.0.ffn_norm.weight" }!
        b.tensors[i].ne = [16]
        b.tensors[i].data = Array(b.tensors[i].data.prefix(64))
    }
    expectModelError("tensor model.layers.0.post_attention_layernorm.weight has shape [16], the config needs [32]") {
        try Converter.convert(source: try ModelImporter.open(dir.file("n.gguf")), to: dir.file("n.mtf"), dtype: .f32, progress: nil)
    }
}

@Test func randomlyCorruptedFilesNeverCrash() throws {
    let dir = TempDir()
    _ = try writeTinyGGUF(tinyGGUFShape, to: dir.file("ok.gguf"))
    let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("ok.gguf"))))
    var rng = SplitMix64(seed: 2026)
    var opened = 0
    for _ in 0..<300 {
        var x = good
        for _ in 0...rng.int(3) {
            // Mostly the header and tables, where a flipped byte changes structure.
            let i = rng.int(8) == 0 ? rng.int(x.count) : rng.int(min(x.count, 1400))
            x[i] = UInt8(truncatingIfNeeded: rng.next())
        }
        try dir.write("c.gguf", x)
        do {
            let s = try ModelImporter.open(dir.file("c.gguf"))
            _ = try loadAll(s)
            opened += 1
        } catch is ModelFileError {
        }
    }
    #expect(opened > 0)  // some flips only touch tensor data or free-form strings
}

@Test func convertedGGUFRoundTripsThroughMTF() throws {
    let dir = TempDir()
    let expected = try writeTinyGGUF(tinyGGUFShape, to: dir.file("t.gguf"))
    let s = try ModelImporter.open(dir.file("t.gguf"))
    var calls: [(Int, Int)] = []
    let fp = try Converter.convert(source: s, to: dir.file("t.mtf"), dtype: .f32) { calls.append(($0, $1)) }
    let m = try MappedTensorFile(path: dir.file("t.mtf"))
    #expect(m.fingerprint == fp)
    #expect(calls.count == expected.count && calls.last! == (expected.count, expected.count))
    #expect(m.metadata == s.metadata)
    // Required tensors first, in ModelConfig order.
    #expect(Array(m.tensors.map(\.name).prefix(m.config.requiredTensors.count)) == m.config.requiredTensors.map(\.name))
    for (name, x) in expected { #expect(try m.view(name).toFloats() == x, "\(name)") }
}
