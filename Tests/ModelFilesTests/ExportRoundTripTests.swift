// Exporters against our own importers: a Hugging Face directory and a GGUF file written from an MTF source
// read back (HFModelSource, GGUFModelSource) to the same config, tokenizer, chat template and exactly the
// tensors the source produced; sharding, dtypes, GGUF layout details, and failures leaving nothing behind.

import Foundation
import JSON
import ModelFiles
import TensorFile
import TestSupport
import Testing

@Suite struct ExportTests {
    // MARK: - Hugging Face

    @Test(arguments: TinyModel.all)
    func hfRoundTripIsExact(_ m: TinyModel) throws {
        let dir = TempDir("export-hf")
        let values = try m.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")), transform: markLayer0)
        let summary = try HFExporter.write(source: source, to: dir.file("hf"), dtype: .f32)
        #expect(summary.shards == 1)
        #expect(summary.files.contains("model.safetensors") && summary.files.contains("chat_template.jinja"))
        #expect(listing(dir.path) == ["base.mtf", "hf"])

        let back = try HFModelSource(directory: dir.file("hf"))
        #expect(back.metadata.config == m.config)
        #expect(back.metadata.tokenizer == m.tokenizer)
        #expect(back.metadata.chatTemplate == TinyModel.template)
        let expected = try marked(values)
        let loaded = try loadAll(back)
        #expect(Set(loaded.keys) == Set(expected.keys))
        for (name, v) in expected { #expect(loaded[name] == v, "\(name)") }
        #expect(loaded["model.layers.0.self_attn.q_proj.weight"] != values["model.layers.0.self_attn.q_proj.weight"])

        // config.json in transformers 5 form.
        let config = try JSONValue.read(dir.file("hf/config.json"))
        #expect(config["dtype"]?.string == "float32")
        #expect(config["rope_parameters"]?["rope_theta"]?.double == 10_000)
        #expect(config["torch_dtype"] == nil && config["rope_theta"] == nil)
        let arch = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"][m.architecture.rawValue]!
        #expect(config["architectures"]?.array?.first?.string == arch)
        let tc = try JSONValue.read(dir.file("hf/tokenizer_config.json"))
        #expect(tc["tokenizer_class"]?.string == "PreTrainedTokenizerFast")
        #expect(tc["added_tokens_decoder"]?["3"]?["lstrip"]?.bool == true)
        #expect(tc["model_max_length"]?.int == 128)
    }

    @Test(arguments: [DType.bf16, .f16])
    func hfHalfPrecisionStoresRoundedValues(_ d: DType) throws {
        let dir = TempDir("export-hf-half")
        let values = try TinyModel.llama.write(to: dir.file("base.mtf"))
        try HFExporter.write(source: MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf"))), to: dir.file("hf"), dtype: d)
        let st = try SafetensorsFile(path: dir.file("hf/model.safetensors"))
        #expect(Set(st.tensors.map(\.dtype)) == [SafetensorsWriter.dtypeName(d)!])
        let loaded = try loadAll(HFModelSource(directory: dir.file("hf")))
        for (name, v) in values { #expect(loaded[name] == rounded(v, d), "\(name)") }
        #expect(try JSONValue.read(dir.file("hf/config.json"))["dtype"]?.string == HFConfigWriter.torchDType(d))
    }

    @Test func hfShardsAboveTheLimit() throws {
        let dir = TempDir("export-shards")
        let m = TinyModel.llama3Untied
        let values = try m.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")))
        let summary = try HFExporter.write(source: source, to: dir.file("hf"), dtype: .f32, maxShardSize: 20_000)
        #expect(summary.shards > 2)
        let names = (1...summary.shards).map { String(format: "model-%05d-of-%05d.safetensors", $0, summary.shards) }
        #expect(listing(dir.file("hf")).filter { $0.hasSuffix(".safetensors") } == names)
        #expect(!FileManager.default.fileExists(atPath: dir.file("hf/model.safetensors")))

        let index = try JSONValue.read(dir.file("hf/model.safetensors.index.json"))
        let map = try #require(index["weight_map"]?.object)
        #expect(Set(map.keys) == Set(values.keys))
        #expect(map["lm_head.weight"]?.string == names.last)
        let bytes = values.values.reduce(0) { $0 + 4 * $1.count }
        #expect(index["metadata"]?["total_size"]?.int == bytes)
        #expect(index["metadata"]?["total_parameters"]?.int == bytes / 4)
        for name in names {
            let size = try #require(FileManager.default.attributesOfItem(atPath: dir.file("hf/" + name))[.size] as? Int)
            let st = try SafetensorsFile(path: dir.file("hf/" + name))
            // Only a tensor larger than the limit may exceed it, alone in its shard.
            #expect(size <= 20_000 + 4096 || st.tensors.count == 1, "\(name)")
        }
        let loaded = try loadAll(HFModelSource(directory: dir.file("hf")))
        for (name, v) in values { #expect(loaded[name] == v, "\(name)") }
    }

    @Test func tiedModelsHaveNoLMHead() throws {
        let dir = TempDir("export-tied")
        _ = try TinyModel.llama.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")))
        try HFExporter.write(source: source, to: dir.file("hf"), dtype: .f32)
        try GGUFExporter.write(source: source, to: dir.file("m.gguf"), type: .f32)
        #expect(try !SafetensorsFile(path: dir.file("hf/model.safetensors")).tensors.contains { $0.name == "lm_head.weight" })
        #expect(try JSONValue.read(dir.file("hf/config.json"))["tie_word_embeddings"]?.bool == true)
        #expect(try !GGUFFile(path: dir.file("m.gguf")).tensors.contains { $0.name == "output.weight" })
    }

    @Test func shardPlanFollowsTransformers() {
        #expect(HFExporter.shardPlan([5, 5, 5], maxShardSize: 10) == [[0, 1], [2]])
        #expect(HFExporter.shardPlan([3, 20, 3, 3], maxShardSize: 10) == [[0], [1], [2, 3]])
        #expect(HFExporter.shardPlan([], maxShardSize: 10) == [[]])
        #expect(HFExporter.byteSize("5GB") == 5_000_000_000)
        #expect(HFExporter.byteSize("2GiB") == 2 << 30)
        #expect(HFExporter.byteSize("500mb") == 500_000_000)
        #expect(HFExporter.byteSize("1.5KB") == 1500)
        #expect(HFExporter.byteSize("4096") == 4096)
        #expect(HFExporter.byteSize("lots") == nil)
        #expect(HFExporter.byteSize("0") == nil)
    }

    @Test(arguments: ["gpt2", "smollm", "llama3", "qwen2"])
    func tokenizerJSONReadsBackAsTheSamePreTokenizer(_ kind: String) throws {
        var t = TinyModel.llama.tokenizer
        t.preTokenizer = kind
        let text = try HFTokenizerWriter.tokenizerJSON(t).rendered()
        var notes: [String] = []
        let back = try HFTokenizer.tokenizerData(JSONValue.parse(Data(text.utf8), path: "tokenizer.json"), path: "tokenizer.json", notes: &notes)
        #expect(back.preTokenizer == kind)
        #expect(back.vocab == t.vocab && back.merges == t.merges && back.addedTokens == t.addedTokens)
    }

    @Test func jsonTextSpellsNumbersAsPython() {
        let v = JSONText.object([
            ("eps", .double(1e-5)), ("theta", .double(100_000)), ("r", .double(0.02)), ("n", .int(-3)), ("s", .string("a\"b\\c\n\u{1}é")),
            ("e", .array([])), ("o", .object([])), ("x", .null), ("b", .bool(true)),
        ])
        #expect(
            v.rendered(indent: nil)
                == #"{"eps":1e-05,"theta":100000.0,"r":0.02,"n":-3,"s":"a\"b\\c\n\u0001é","e":[],"o":{},"x":null,"b":true}"#)
        #expect(JSONText.array([.int(1), .object([("a", .int(2))])]).rendered(indent: 2) == "[\n  1,\n  {\n    \"a\": 2\n  }\n]")
    }

    // MARK: - GGUF

    @Test(arguments: TinyModel.all)
    func ggufRoundTripIsExact(_ m: TinyModel) throws {
        let dir = TempDir("export-gguf")
        let values = try m.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")), transform: markLayer0)
        try GGUFExporter.write(source: source, to: dir.file("m.gguf"), type: .f32)
        #expect(listing(dir.path) == ["base.mtf", "m.gguf"])

        let back = try #require(try ModelImporter.open(dir.file("m.gguf")) as? GGUFModelSource)
        #expect(back.metadata.config == m.config)
        let t = back.metadata.tokenizer
        #expect(t.vocab == m.tokenizer.vocab && t.merges == m.tokenizer.merges && t.preTokenizer == m.tokenizer.preTokenizer)
        #expect(t.addedTokens.map { [$0.id, $0.special ? 1 : 0] } == m.tokenizer.addedTokens.map { [$0.id, $0.special ? 1 : 0] })
        #expect(t.bosToken == m.tokenizer.bosToken && t.eosToken == m.tokenizer.eosToken && t.padToken == m.tokenizer.padToken)
        #expect(t.unkToken == m.tokenizer.unkToken && t.addBosToken == m.addBos)
        #expect(back.metadata.chatTemplate == TinyModel.template)
        let expected = try marked(values)
        let loaded = try loadAll(back)
        #expect(Set(loaded.keys) == Set(expected.keys))
        for (name, v) in expected { #expect(loaded[name] == v, "\(name)") }

        // Layout and names as llama.cpp expects them.
        let f = back.file
        #expect(f.version == 3 && f.alignment == 32)
        #expect(f["general.architecture"]?.string == m.architecture.rawValue)
        let p = m.architecture.rawValue + "."
        #expect(f[p + "block_count"]?.int == 2 && f[p + "attention.key_length"]?.int == m.headDim)
        #expect(f[p + "rope.dimension_count"]?.int == m.headDim && f[p + "vocab_size"]?.int == TinyModel.vocab.count)
        #expect(f["tokenizer.ggml.model"]?.string == "gpt2")
        #expect(f["tokenizer.ggml.token_type"]?.array?.prefix(5).compactMap(\.int) == [3, 3, 3, 4, 1])
        #expect(f.tensors.first?.name == "token_embd.weight")
        #expect(f.tensors.contains { $0.name == "rope_freqs.weight" } == (m.ropeScaling?.ropeType == "llama3"))
        #expect(f.tensors.contains { $0.name == "output.weight" } == !m.tied)
        #expect(f.tensors.allSatisfy { $0.offset % 32 == 0 })
        #expect(f.fileSize == f.dataStart + (f.tensors.last.map { $0.offset + GGUFFile.alignUpForTests($0.byteCount) } ?? 0))
    }

    /// llama's Q and K rows are stored in GGML's interleaved order; V and the others are not permuted.
    @Test func ggufPermutesLlamaQueryAndKeyRows() throws {
        let dir = TempDir("export-perm")
        let m = TinyModel.llamaLinear
        let values = try m.write(to: dir.file("base.mtf"))
        try GGUFExporter.write(source: MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf"))), to: dir.file("m.gguf"), type: .f32)
        let f = try GGUFFile(path: dir.file("m.gguf"))
        func raw(_ name: String) throws -> [Float] {
            let t = try #require(f.tensors.first { $0.name == name })
            return f.data(t).withMemoryRebound(to: Float.self) { Array($0) }
        }
        let hd = m.config.headDim, d = m.dim
        for (hf, gguf) in [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k")] {
            let w = values["model.layers.1.\(hf).weight"]!, g = try raw("blk.1.\(gguf).weight")
            let b = values["model.layers.1.\(hf).bias"]!, gb = try raw("blk.1.\(gguf).bias")
            for row in 0..<(w.count / d) {
                let h = row / hd, i = row % hd
                let src = h * hd + (i % 2) * (hd / 2) + i / 2  // GGUF_row[h·hd + 2j + s] = HF_row[h·hd + s·hd/2 + j]
                #expect(g[(row * d)..<((row + 1) * d)].elementsEqual(w[(src * d)..<((src + 1) * d)]), "\(gguf) row \(row)")
                #expect(gb[row] == b[src])
            }
        }
        #expect(try raw("blk.1.attn_v.weight") == values["model.layers.1.self_attn.v_proj.weight"]!)
        #expect(f["llama.rope.scaling.type"]?.string == "linear" && f["llama.rope.scaling.factor"]?.double == 2)
    }

    @Test(arguments: [GGMLType.f16, .bf16, .q8_0])
    func ggufTypesKeepNormsInF32(_ type: GGMLType) throws {
        let dir = TempDir("export-gguf-types")
        let values = try TinyModel.qwen3.write(to: dir.file("base.mtf"))
        let summary = try GGUFExporter.write(
            source: MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf"))), to: dir.file("m.gguf"), type: type)
        #expect(summary.notes.isEmpty)
        let back = try GGUFModelSource(path: dir.file("m.gguf"))
        for t in back.file.tensors { #expect(t.type == (t.ne.count == 1 ? .f32 : type), "\(t.name)") }
        #expect(back.file["general.file_type"]?.int == ["F16": 1, "BF16": 32, "Q8_0": 7][type.description])
        let loaded = try loadAll(back)
        for (name, v) in values {
            let got = try #require(loaded[name])
            if name.hasSuffix("norm.weight") || name.hasSuffix(".bias") {
                #expect(got == v, "\(name)")
            } else if type == .q8_0 {
                // Each block's step is amax/127 (rounded to f16): values are within half a step.
                for b in 0..<(v.count / 32) {
                    let block = v[(32 * b)..<(32 * b + 32)]
                    let step = block.map(abs).max()! / 127
                    // Half a step of rounding, plus the step's own f16 rounding (2^-11 relative) times |q| ≤ 127.
                    for j in block.indices { #expect(abs(got[j] - v[j]) <= step * (0.5 + 127.0 / 2048) * 1.001, "\(name)[\(j)]") }
                }
            } else {
                #expect(got == rounded(v, type == .f16 ? .f16 : .bf16), "\(name)")
            }
        }
    }

    @Test func q8_0MatchesTheReferenceQuantizer() {
        var x = (0..<32).map { Float($0) * 0.37 - 5 }
        x[3] = 0
        var block = [UInt8](repeating: 0, count: 34)
        x.withUnsafeBufferPointer { src in block.withUnsafeMutableBytes { GGMLType.q8_0.encode(src.baseAddress!, into: $0.baseAddress!, count: 32) } }
        let d = 6.47 / Float(127)  // amax = |31·0.37 − 5| = 6.47
        #expect(block[0..<2] == ArraySlice(withUnsafeBytes(of: floatToHalf(d).littleEndian, Array.init)))
        for j in 0..<32 { #expect(Int8(bitPattern: block[2 + j]) == Int8((x[j] / d).rounded()), "\(j)") }
        var zeros = [UInt8](repeating: 9, count: 34)
        [Float](repeating: 0, count: 32).withUnsafeBufferPointer { src in
            zeros.withUnsafeMutableBytes { GGMLType.q8_0.encode(src.baseAddress!, into: $0.baseAddress!, count: 32) }
        }
        #expect(zeros == [UInt8](repeating: 0, count: 34))
    }

    /// The writer's bytes are what the test-side builder (written independently from gguf.md) produces,
    /// plus the final tensor's padding.
    @Test func ggufWriterMatchesTheTestBuilder() throws {
        let dir = TempDir("export-gguf-writer")
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")), ("u8", .uint8(7)), ("i8", .int8(-7)), ("u16", .uint16(700)), ("i16", .int16(-700)),
            ("u32", .uint32(70_000)), ("i32", .int32(-70_000)), ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))),
            ("f32", .float32(0.5)), ("f64", .float64(-0.25)), ("b", .bool(true)), ("s", .string("héllo")),
            ("a", .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])])),
        ]
        let a = (0..<7).map { Float($0) }, b = (0..<6).map { Float(-$0) }
        let w = try GGUFWriter(
            path: dir.file("w.gguf"), metadata: metadata,
            tensors: [GGUFWriter.Tensor(name: "a", shape: [7], type: .f32), GGUFWriter.Tensor(name: "b", shape: [2, 3], type: .f32)])
        for v in [a, b] { try v.withUnsafeBytes { try w.append($0) } }
        try w.finish()

        var g = GGUFBuilder()
        for (k, v) in metadata { g.add(k, v) }
        g.tensor("a", ne: [7], floats: a)
        g.tensor("b", ne: [3, 2], floats: b)
        let expected = g.build()
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir.file("w.gguf"))))
        #expect(written.count == GGUFBuilder.alignUp(expected.count, 32))
        #expect(Array(written.prefix(expected.count)) == expected)
        let f = try GGUFFile(path: dir.file("w.gguf"))
        for (k, v) in metadata { #expect(f[k] == v, "\(k)") }
    }

    @Test func ggufWriterRejectsBadDeclarations() throws {
        let dir = TempDir("export-gguf-bad")
        expectModelError("row length 20 is not a multiple of the Q8_0 block size 32") {
            _ = try GGUFWriter(path: dir.file("x.gguf"), metadata: [], tensors: [GGUFWriter.Tensor(name: "x", shape: [2, 20], type: .q8_0)])
        }
        expectModelError("duplicate tensor x") {
            let t = GGUFWriter.Tensor(name: "x", shape: [4], type: .f32)
            _ = try GGUFWriter(path: dir.file("x.gguf"), metadata: [], tensors: [t, t])
        }
        expectModelError("longer than 63 bytes") {
            _ = try GGUFWriter(
                path: dir.file("x.gguf"), metadata: [], tensors: [GGUFWriter.Tensor(name: String(repeating: "n", count: 64), shape: [4], type: .f32)])
        }
        do {
            let w = try GGUFWriter(path: dir.file("x.gguf"), metadata: [], tensors: [GGUFWriter.Tensor(name: "x", shape: [4], type: .f32)])
            expectModelError("only 0 of 1 tensors were written") { try w.finish() }
        }
        #expect(listing(dir.path).isEmpty)
    }

    @Test func ggufNamesAreDistinct() {
        let names = TinyModel.qwen3.config.requiredTensors.map(\.name) + ["lm_head.weight", "model.layers.1.self_attn.v_proj.bias"]
        let g = names.compactMap(GGUFExporter.ggufName)
        #expect(g.count == names.count && Set(g).count == g.count)
        #expect(GGUFExporter.ggufName("model.layers.3.mlp.down_proj.weight") == "blk.3.ffn_down.weight")
        #expect(GGUFExporter.ggufName("model.layers.03.mlp.down_proj.weight") == nil)
        #expect(GGUFExporter.ggufName("model.rotary_emb.inv_freq") == nil)
    }

    /// SmolLM2 (when present) exported to hf and gguf converts back to an MTF with the same fingerprint:
    /// the same config, and every tensor bit for bit.
    @Test(.enabled(if: TestPaths.smolLM2 != nil, "needs the SmolLM2 MTF (tools/fetch-model)"), arguments: ["hf", "gguf"])
    func smolLM2RoundTripKeepsTheFingerprint(_ format: String) throws {
        let path = try #require(TestPaths.smolLM2)
        let dir = TempDir("export-smollm2")
        let base = try MappedTensorFile(path: path)
        let source = try MTFModelSource(file: base, sourceXXH64: "0000000000000000")
        if format == "hf" {
            try HFExporter.write(source: source, to: dir.file("out"), dtype: .f32, maxShardSize: 200_000_000)
            #expect(listing(dir.file("out")).filter { $0.hasSuffix(".safetensors") }.count == 3)
        } else {
            try GGUFExporter.write(source: source, to: dir.file("out"), type: .f32)
        }
        let back = try ModelImporter.open(dir.file("out"))
        #expect(back.metadata.tokenizer == base.metadata.tokenizer && back.metadata.chatTemplate == base.metadata.chatTemplate)
        let fingerprint = try Converter.convert(source: back, to: dir.file("back.mtf"), dtype: .f32, progress: nil)
        #expect(fingerprint == base.fingerprint)
    }

    // MARK: - Targets and failures

    @Test func existingTargetsNeedForce() throws {
        let dir = TempDir("export-force")
        _ = try TinyModel.llama.write(to: dir.file("base.mtf"))
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")))
        try dir.write("m.gguf", "keep me")
        try FileManager.default.createDirectory(atPath: dir.file("hf"), withIntermediateDirectories: false)
        try dir.write("hf/notes.txt", "mine")
        expectModelError("m.gguf: already exists (HINT: add --force to replace it)") {
            try GGUFExporter.write(source: source, to: dir.file("m.gguf"), type: .f32)
        }
        expectModelError("hf: already exists") { try HFExporter.write(source: source, to: dir.file("hf"), dtype: .f32) }
        expectModelError("does not look like an earlier export") {
            try HFExporter.write(source: source, to: dir.file("hf"), dtype: .f32, force: true)
        }
        #expect(try String(contentsOfFile: dir.file("m.gguf"), encoding: .utf8) == "keep me")
        #expect(try String(contentsOfFile: dir.file("hf/notes.txt"), encoding: .utf8) == "mine")
        #expect(listing(dir.path) == ["base.mtf", "hf", "m.gguf"])

        try GGUFExporter.write(source: source, to: dir.file("m.gguf"), type: .f32, force: true)
        #expect(try GGUFFile(path: dir.file("m.gguf")).tensors.count > 0)
        try HFExporter.write(source: source, to: dir.file("hf2"), dtype: .f32)
        try HFExporter.write(source: source, to: dir.file("hf2"), dtype: .bf16, force: true)
        #expect(try JSONValue.read(dir.file("hf2/config.json"))["dtype"]?.string == "bfloat16")
        #expect(listing(dir.path) == ["base.mtf", "hf", "hf2", "m.gguf"])
    }

    @Test func unwritableOutputLeavesNothing() throws {
        let dir = TempDir("export-unwritable")
        _ = try TinyModel.llama.write(to: dir.file("base.mtf"))
        try dir.write("file", "x")
        let source = try MTFModelSource(file: MappedTensorFile(path: dir.file("base.mtf")))
        expectModelError("is not an existing directory", kind: .io) {
            try HFExporter.write(source: source, to: dir.file("file/hf"), dtype: .f32)
        }
        expectModelError("is not an existing directory", kind: .io) {
            try GGUFExporter.write(source: source, to: dir.file("missing/m.gguf"), type: .f32)
        }
        #expect(listing(dir.path) == ["base.mtf", "file"])
    }

    /// A failure in the middle of the tensors (here the transform throws) removes the temporary file or
    /// directory and leaves an earlier export in place.
    @Test func failureMidwayLeavesNothingPartial() throws {
        struct Boom: Error {}
        let dir = TempDir("export-midway")
        _ = try TinyModel.llama.write(to: dir.file("base.mtf"))
        let file = try MappedTensorFile(path: dir.file("base.mtf"))
        var seen = 0
        let failing = try MTFModelSource(file: file) { _, _ in
            seen += 1
            if seen == 5 { throw Boom() }
        }
        #expect(throws: Boom.self) { try HFExporter.write(source: failing, to: dir.file("hf"), dtype: .f32) }
        seen = 0
        #expect(throws: Boom.self) { try GGUFExporter.write(source: failing, to: dir.file("m.gguf"), type: .f32) }
        #expect(listing(dir.path) == ["base.mtf"])

        try HFExporter.write(source: MTFModelSource(file: file), to: dir.file("hf"), dtype: .f32)
        let before = listing(dir.file("hf"))
        seen = 0
        #expect(throws: Boom.self) { try HFExporter.write(source: failing, to: dir.file("hf"), dtype: .bf16, force: true) }
        #expect(listing(dir.path) == ["base.mtf", "hf"])
        #expect(listing(dir.file("hf")) == before)
        #expect(try JSONValue.read(dir.file("hf/config.json"))["dtype"]?.string == "float32")
    }
}

extension GGUFFile {
    static func alignUpForTests(_ v: Int) -> Int { (v + 31) / 32 * 32 }
}
