// LoRA configuration, the adapter's flat layout and PEFT init, and PEFT adapter files: exact save/load
// round trips, a real PEFT save, F16/BF16 input, and refusals with messages naming the problem.

import Foundation
import Model
import TensorFile
import TestSupport
import Testing

extension ModelTests {
    @Suite struct LoRA {
        @Test func configValidatesAndScales() throws {
            #expect(LoRAConfig(r: 8, alpha: 16).scale == 2)
            #expect(LoRAConfig(r: 16, alpha: 32, rslora: true).scale == 8)
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(r: 0).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(alpha: -1).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(dropout: 1).validate() }
            #expect(throws: LoRAConfigError.self) { try LoRAConfig(targets: []).validate() }
            #expect(try LoRATarget.parseList("v, q,down") == [.q, .v, .down])
            #expect(try LoRATarget.parseList("q_proj,gate_proj") == [.q, .gate])
            #expect(try LoRATarget.parseList("all") == LoRATarget.allCases)
            #expect(throws: LoRAConfigError.self) { try LoRATarget.parseList("q,qq") }
            #expect(throws: LoRAConfigError.self) { try LoRATarget.parseList("q,q") }
            let json = Data(#"{"r": 4, "alpha": 8, "dropout": 0.1, "targets": ["v", "q"]}"#.utf8)
            let c = try JSONDecoder().decode(LoRAConfig.self, from: json)
            #expect(c == LoRAConfig(r: 4, alpha: 8, rslora: false, dropout: 0.1, targets: [.q, .v]))
            #expect(try JSONDecoder().decode(LoRAConfig.self, from: JSONEncoder().encode(c)) == c)
            #expect(throws: DecodingError.self) {
                try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"r": 4, "alpha": 8, "dropout": 1.5, "targets": ["q"]}"#.utf8))
            }
        }

        @Test func adapterLayoutAndPEFTInit() throws {
            let config = TinySpec.qwen3.config  // Q = 32 ≠ D = 16
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 3, alpha: 6, targets: [.q, .o, .down]), modelConfig: config, seed: 9)
            #expect(adapter.entries.count == 2 * 3)
            let q = adapter.entry(layer: 1, target: .q)!, o = adapter.entry(layer: 1, target: .o)!, d = adapter.entry(layer: 0, target: .down)!
            #expect((q.inFeatures, q.outFeatures) == (16, 32))
            #expect((o.inFeatures, o.outFeatures) == (32, 16))
            #expect((d.inFeatures, d.outFeatures) == (24, 16))
            #expect(adapter.entry(layer: 0, target: .k) == nil)
            #expect(q.nameA == "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
            #expect(d.nameB == "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")
            // The table tiles the flat block exactly.
            var next = 0
            for e in adapter.entries {
                #expect(e.offsetA == next && e.offsetB == next + 3 * e.inFeatures)
                next = e.offsetB + e.outFeatures * 3
            }
            #expect(next == adapter.parameterCount)
            // A ~ U(±1/√in), B = 0; the same seed gives the same numbers.
            for e in adapter.entries {
                let bound = 1 / Float(e.inFeatures).squareRoot()
                let a = UnsafeBufferPointer(start: adapter.a(e), count: 3 * e.inFeatures)
                #expect(a.allSatisfy { abs($0) <= bound } && a.contains { abs($0) > bound / 2 })
                #expect(UnsafeBufferPointer(start: adapter.b(e), count: e.outFeatures * 3).allSatisfy { $0 == 0 })
            }
            let again = try LoRAAdapter(config: adapter.config, modelConfig: config, seed: 9)
            #expect(again.parameterArray() == adapter.parameterArray())
            let other = try LoRAAdapter(config: adapter.config, modelConfig: config, seed: 10)
            #expect(other.parameterArray() != adapter.parameterArray())
        }

        @Test func peftSaveLoadRoundTripIsExact() throws {
            let (model, _) = try makeTinyModel(.qwen2)
            let adapter = try makeAdapter(model, r: 3, alpha: 5, rslora: true, dropout: 0.05)
            let dir = TestPaths.temporaryDirectory("leandpo-peft")
            try PEFTAdapter.save(adapter, directory: dir, baseModelName: "tiny/qwen2")
            let loaded = try PEFTAdapter.load(directory: dir, modelConfig: model.config)
            #expect(loaded.config == adapter.config)
            #expect(loaded.parameterArray() == adapter.parameterArray())
            let batch = PackedBatch(sequences: [[3, 5, 7, 11, 13, 17]])
            #expect(
                try model.sequenceLogProbs(batch: batch, completionRanges: [1..<6], adapter: loaded)
                    == model.sequenceLogProbs(batch: batch, completionRanges: [1..<6], adapter: adapter))
            let cfg = try readJSON(URL(fileURLWithPath: dir + "/adapter_config.json"))
            #expect(cfg["peft_type"] as? String == "LORA" && cfg["r"] as? Int == 3 && cfg["use_rslora"] as? Bool == true)
            #expect(cfg["lora_alpha"] as? Int == 5 && cfg["base_model_name_or_path"] as? String == "tiny/qwen2")
            #expect(Set(cfg["target_modules"] as! [String]) == Set(LoRATarget.allCases.map(\.moduleName)))
            let tensors = try readSafetensors(URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
            #expect(tensors.count == 2 * adapter.entries.count)
            #expect(tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"]?.shape == [8, 3])
        }

        /// A real save by peft 0.21.2 (SmolLM2 shapes, 2 layers, r = 8, alpha 16, all seven targets).
        @Test func loadsARealPEFTSave() throws {
            let dir = try fixturesDirectory().appendingPathComponent("peft_smollm2_2layer_r8").path
            let smol = ModelConfig(
                architecture: .llama, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 2, numAttentionHeads: 9,
                numKeyValueHeads: 3, rmsNormEps: 1e-5, ropeTheta: 100_000, maxPositionEmbeddings: 8192, vocabSize: 49152,
                tieWordEmbeddings: true)
            let adapter = try PEFTAdapter.load(directory: dir, modelConfig: smol)
            #expect(adapter.config == LoRAConfig(r: 8, alpha: 16, rslora: false, dropout: 0.05, targets: LoRATarget.allCases))
            let tensors = try readSafetensors(URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
            for t in adapter.tensorNames {
                let values = UnsafeBufferPointer(start: adapter.parameters.baseAddress! + t.offset, count: t.shape.reduce(1, *))
                #expect(Array(values) == tensors[t.name]!.values, "\(t.name)")
            }
            // The wrong model shape is refused.
            var wrong = smol
            wrong.numHiddenLayers = 3
            #expect(throws: PEFTAdapterError.self) { try PEFTAdapter.load(directory: dir, modelConfig: wrong) }
        }

        @Test func halfPrecisionAdapterFilesLoad() throws {
            let config = TinySpec.llama.config
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4, targets: [.v]), modelConfig: config, seed: 3)
            let dir = TestPaths.temporaryDirectory("leandpo-peft")
            try PEFTAdapter.save(adapter, directory: dir)
            for (dtype, encode) in [("F16", { (x: Float) in floatToHalf(x) }), ("BF16", { (x: Float) in floatToBF16(x) })] {
                // Rewrite the file with 16-bit tensors.
                var header = "{\"__metadata__\":{\"format\":\"pt\"}"
                var body: [UInt8] = []
                for t in adapter.tensorNames {
                    let n = t.shape.reduce(1, *)
                    header += ",\"\(t.name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(t.shape),\"data_offsets\":[\(body.count),\(body.count + 2 * n)]}"
                    for i in 0..<n { withUnsafeBytes(of: encode(adapter.parameters[t.offset + i]).littleEndian) { body += $0 } }
                }
                header += "}"
                var bytes: [UInt8] = []
                withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
                try Data(bytes + Array(header.utf8) + body).write(to: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
                let loaded = try PEFTAdapter.load(directory: dir, modelConfig: config)
                let expected = adapter.parameterArray().map { dtype == "F16" ? halfToFloat(floatToHalf($0)) : bf16ToFloat(floatToBF16($0)) }
                #expect(loaded.parameterArray() == expected, "\(dtype)")
            }
        }

        @Test func unsupportedPEFTConfigsAreRefused() throws {
            let config = TinySpec.llama.config
            let adapter = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4), modelConfig: config, seed: 3)
            let dir = TestPaths.temporaryDirectory("leandpo-peft")
            try PEFTAdapter.save(adapter, directory: dir)
            let path = dir + "/adapter_config.json"
            let original = try String(contentsOfFile: path, encoding: .utf8)
            let cases: [(String, String, String)] = [
                ("\"use_dora\": false", "\"use_dora\": true", "DoRA"),
                ("\"bias\": \"none\"", "\"bias\": \"all\"", "bias"),
                ("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 4}", "rank_pattern"),
                ("\"target_modules\": [", "\"target_modules\": [\"lm_head\", ", "lm_head"),
                ("\"r\": 2", "\"r\": 0", "rank"),
            ]
            for (from, to, word) in cases {
                try original.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
                do {
                    _ = try PEFTAdapter.load(directory: dir, modelConfig: config)
                    Issue.record("\(word) was accepted")
                } catch let e as PEFTAdapterError {
                    #expect(e.description.contains(word), "\(e)")
                }
            }
            // A tensor of the wrong shape names the tensor.
            try original.write(toFile: path, atomically: true, encoding: .utf8)
            let narrower = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4), modelConfig: TinySpec.qwen3.config, seed: 3)
            try PEFTAdapter.save(narrower, directory: dir)
            #expect(throws: PEFTAdapterError.self) { try PEFTAdapter.load(directory: dir, modelConfig: config) }
        }
    }
}
