// Phi-3 beyond the shared family tests (ParityTests, GradientTests and ExportMergeTests run it too): the tiny
// transformers Phi-3 converted from llama.cpp's GGUF layout gives transformers' logits, the KV-cache path sees
// the window through the fused weights, and LoRA dropout draws one mask per fused module (its one input, as
// PEFT), checked by finite differences (fixtures from tools/reference/gen_phi3_fixtures.py).

import Foundation
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct Phi3 {
        static func expected() throws -> [(ids: [Int32], logits: [Float])] {
            let j = try readJSON(try fixturesDirectory().appendingPathComponent("tiny_phi3/expected_logits.json"))
            return (j["sequences"] as! [[String: Any]]).map {
                (($0["token_ids"] as! [Int]).map(Int32.init), ($0["logits"] as! [[Double]]).flatMap { $0.map(Float.init) })
            }
        }

        /// The GGUF (attn_qkv, fused ffn_up) converts to the same model: logits within 1e-4 of transformers, as the
        /// HF directory's (ParityTests).
        @Test func ggufLogitsMatchTransformers() throws {
            let gguf = try fixturesDirectory().appendingPathComponent("tiny_phi3.gguf").path
            let path = TestPaths.temporaryDirectory("leandpo-phi3") + "/from-gguf.mtf"
            try Converter.convert(source: ModelImporter.open(gguf), to: path, dtype: .f32, progress: nil)
            let model = try LlamaModel(path: path, threads: 2)
            #expect(model.config.architecture == .phi3 && model.config.slidingWindow == 4 && !model.config.tieWordEmbeddings)
            var worst: Float = 0
            for s in try Self.expected() {
                let got = try model.logits(batch: PackedBatch(sequences: [s.ids]), rows: Array(0..<s.ids.count))
                worst = max(worst, maxAbsDiff(got, s.logits))
            }
            #expect(worst <= 1e-4)
            print("tiny_phi3.gguf: max |Δlogit| vs transformers \(worst)")
        }

        /// LongRoPE on the tiny Phi-3's weights (tiny_phi3_longrope.json: config.json contents with short and long
        /// factors, original length 8, max 256, and transformers' logits): 6 tokens use the short factors, 13 the long
        /// ones, both with the attention factor √(1 + ln 32 / ln 8) on cos/sin; within 1e-4 of transformers. Without
        /// the scaling the long sequence misses by far more.
        @Test func longRopeLogitsMatchTransformers() throws {
            let dir = try fixturesDirectory()
            let fixture = try readJSON(dir.appendingPathComponent("tiny_phi3_longrope.json"))
            let configData = try JSONSerialization.data(withJSONObject: try #require(fixture["config"]))
            let tmp = TestPaths.temporaryDirectory("leandpo-phi3")
            try configData.write(to: URL(fileURLWithPath: tmp + "/config.json"))
            var notes: [String] = []
            let config = try HFConfig.modelConfig(path: tmp + "/config.json", notes: &notes)
            let s = try #require(config.ropeScaling)
            #expect(s.ropeType == "longrope" && s.originalMaxPositionEmbeddings == 8 && s.factor == 32)
            #expect(abs(try #require(s.attentionFactor) - (1 + log(32.0) / log(8.0)).squareRoot()) < 1e-12)
            let tensors = try readSafetensors(dir.appendingPathComponent("tiny_phi3/model.safetensors")).mapValues(\.values)
            try writeMTF(path: tmp + "/longrope.mtf", config: config, tensors: tensors, source: "tiny_phi3_longrope")
            let model = try LlamaModel(path: tmp + "/longrope.mtf", threads: 2)
            let plain = try LlamaModel(path: try convertFixture(dir.appendingPathComponent("tiny_phi3")), threads: 2)
            var worst: [Float] = []
            for seq in fixture["sequences"] as! [[String: Any]] {
                let ids = (seq["token_ids"] as! [Int]).map(Int32.init)
                let want = (seq["logits"] as! [[Double]]).flatMap { $0.map(Float.init) }
                let got = try model.logits(batch: PackedBatch(sequences: [ids]), rows: Array(0..<ids.count))
                worst.append(maxAbsDiff(got, want))
                #expect(maxAbsDiff(got, want) <= 1e-4, "\(ids.count) tokens: \(maxAbsDiff(got, want))")
                let unscaled = try plain.logits(batch: PackedBatch(sequences: [ids]), rows: Array(0..<ids.count))
                #expect(maxAbsDiff(unscaled, want) > 1e-2)
            }
            print("tiny_phi3 longrope: max |Δlogit| vs transformers (short, long) \(worst)")
        }

        /// Generation's KV-cache path (prefill, then one-token steps) through the fused row views, with the window.
        @Test func cachedDecodeMatchesTransformers() throws {
            let model = try LlamaModel(path: try convertFixture(try fixturesDirectory().appendingPathComponent("tiny_phi3")), threads: 2)
            let s = try Self.expected()[1]
            let v = model.vocabSize, n = s.ids.count
            let session = try model.makeGenerationSession(capacity: n)
            var cached = try session.prefill(Array(s.ids[0..<5]))
            #expect(maxAbsDiff(cached, Array(s.logits[(4 * v)..<(5 * v)])) <= 1e-4)
            for i in 5..<n {
                cached = try session.step(s.ids[i])
                #expect(maxAbsDiff(cached, Array(s.logits[(i * v)..<((i + 1) * v)])) <= 1e-4, "step at \(i)")
            }
        }

        /// LoRA dropout on the fused modules: q, k and v (gate and up) see one dropped input, so the training
        /// forward is a function of the parameters whose gradient (the shared A summing its members') is checked
        /// by finite differences.
        @Test func dropoutGradientMatchesFiniteDifferences() throws {
            let worst = try Gradients.dropoutCheck(.phi3).worst
            #expect(worst <= 1, "worst ratio \(worst)")
        }

        /// A vocabulary larger than the tokenizer (Phi-3-mini: 32064 rows, 32011 tokens) is exported to GGUF with
        /// llama.cpp's "[PAD<i>]" tokens of type UNUSED up to the row count, so the token list and the embedding agree.
        @Test func ggufExportPadsTheTokenList() throws {
            let c = TinySpec.phi3.config
            var metadata = TinyModelFile.metadata(c, source: "padded")
            metadata.tokenizer.vocab.removeLast(5)
            let dir = TestPaths.temporaryDirectory("leandpo-phi3")
            try TinyModelFile.write(path: dir + "/padded.mtf", metadata: metadata, tensors: TinyModelFile.randomWeights(c, seed: 3))
            let source = try MTFModelSource(file: MappedTensorFile(path: dir + "/padded.mtf"))
            try GGUFExporter.write(source: source, to: dir + "/padded.gguf", type: .f32)
            let gguf = try GGUFFile(path: dir + "/padded.gguf")
            let tokens = try #require(gguf["tokenizer.ggml.tokens"]?.array).compactMap(\.string)
            let types = try #require(gguf["tokenizer.ggml.token_type"]?.array).compactMap(\.int)
            #expect(tokens.count == c.vocabSize && types.count == c.vocabSize)
            #expect(Array(tokens.suffix(5)) == (c.vocabSize - 5..<c.vocabSize).map { "[PAD\($0)]" } && types.suffix(5).allSatisfy { $0 == 5 })
        }

        /// What convert cannot do is refused naming the key and value: partial rotary embeddings, Phi-3-small's
        /// model_type, LongRoPE factors of the wrong length.
        @Test(arguments: [
            (#""partial_rotary_factor": 0.75"#, "partial_rotary_factor 0.75"),
            (#""rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}"#, "partial_rotary_factor 0.5"),
            (#""rope_scaling": {"type": "dynamic", "factor": 2.0}"#, "rope type dynamic"),
            (#""rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [1, 1]}"#, "short_factor must list 8"),
        ])
        func unsupportedSettingsAreRefused(setting: String, message: String) throws {
            let dir = TestPaths.temporaryDirectory("leandpo-phi3")
            let json = """
                {"model_type": "phi3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "vocab_size": 1211, "max_position_embeddings": 256, \(setting)}
                """
            try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
            var notes: [String] = []
            do {
                try HFConfig.modelConfig(path: dir + "/config.json", notes: &notes).validate()
                Issue.record("\(setting) was accepted")
            } catch {
                #expect("\(error)".contains(message), "\(error)")
            }
            let small = json.replacingOccurrences(of: #""phi3""#, with: #""phi3small""#)
            try Data(small.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
            #expect(throws: (any Error).self) { try HFConfig.modelConfig(path: dir + "/config.json", notes: &notes) }
        }

        /// The adapter table holds PEFT's fused tensors: one A (R, D) and one B (Q + 2·KV, R) for qkv_proj, B
        /// (2·F, R) for gate_up_proj, the members' B rows inside it.
        @Test func adapterTensorsAreFused() throws {
            let c = TinySpec.phi3.config
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 2), modelConfig: c, seed: 1)
            let names = Dictionary(uniqueKeysWithValues: adapter.tensorNames.map { ($0.name, $0.shape) })
            let p = "base_model.model.model.layers.0."
            let qkv = c.numAttentionHeads * c.headDim + 2 * c.numKeyValueHeads * c.headDim
            #expect(names[p + "self_attn.qkv_proj.lora_A.weight"] == [2, c.hiddenSize])
            #expect(names[p + "self_attn.qkv_proj.lora_B.weight"] == [qkv, 2])
            #expect(names[p + "mlp.gate_up_proj.lora_B.weight"] == [2 * c.intermediateSize, 2])
            #expect(names.count == 2 * 4 * c.numHiddenLayers)
            let q = try #require(adapter.entry(layer: 1, target: .q)), v = try #require(adapter.entry(layer: 1, target: .v))
            #expect(q.offsetA == v.offsetA && v.offsetB == q.offsetB + (qkv - c.numKeyValueHeads * c.headDim) * 2)
            #expect(throws: LoRAConfigError.self) { try LoRAAdapter(config: LoRAConfig(r: 2, targets: [.q, .v]), modelConfig: c, seed: 1) }
            #expect(try LoRATarget.parseList("qkv_proj,gate_up_proj") == [.q, .k, .v, .gate, .up])
        }
    }
}
