// PEFT adapter files: exact save/load round trips, a real PEFT save, F16/BF16 input, and refusals with
// one line naming the file and key or tensor: unsupported options, values of the wrong type (never
// coerced), shapes compared before anything is allocated, overflowing shapes and non-finite values.

import Adapters
import Foundation
import JSON
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing

@Suite struct PEFTAdapterTests {
    static let config = ExportDriverTests.config
    /// The same layer count with narrower projections.
    static let narrower = ModelConfig(
        architecture: .llama, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
        rmsNormEps: 1e-6, ropeTheta: 10_000, maxPositionEmbeddings: 128, vocabSize: 41, tieWordEmbeddings: true)

    /// A saved adapter directory and the text of its config, to edit into broken variants.
    static func savedAdapter(r: Int = 2, alpha: Double = 4) throws -> (dir: String, adapter: LoRAAdapter, config: String) {
        let adapter = try LoRAAdapter(config: LoRAConfig(r: r, alpha: alpha), modelConfig: config, seed: 3)
        let dir = TestPaths.temporaryDirectory("leandpo-peft")
        try PEFTAdapter.save(adapter, directory: dir, baseModel: "tiny/llama")
        return (dir, adapter, try String(contentsOfFile: dir + "/" + PEFTAdapter.configFileName, encoding: .utf8))
    }

    // MARK: - Round trips

    @Test func saveLoadRoundTripIsExact() throws {
        let adapter = try ExportDriverTests.makeAdapter(rslora: true)
        let dir = TestPaths.temporaryDirectory("leandpo-peft")
        try PEFTAdapter.save(adapter, directory: dir, baseModel: "tiny/llama")
        let loaded = try PEFTAdapter.load(directory: dir, modelConfig: Self.config)
        #expect(loaded.config == adapter.config)
        #expect(loaded.parameterArray() == adapter.parameterArray())
        let cfg = try JSONValue.read(dir + "/adapter_config.json")
        #expect(cfg["peft_type"]?.string == "LORA" && cfg["r"]?.int == 4 && cfg["use_rslora"]?.bool == true)
        #expect(cfg["lora_alpha"] == .int(8) && cfg["base_model_name_or_path"]?.string == "tiny/llama")
        #expect(Set(cfg["target_modules"]?.array?.compactMap(\.string) ?? []) == Set(LoRATarget.allCases.map(\.moduleName)))
        let tensors = try readSafetensors(dir + "/adapter_model.safetensors")
        #expect(tensors.count == 2 * adapter.entries.count)
        #expect(tensors["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"]?.shape == [16, 4])
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
        let tensors = try readSafetensors(dir + "/adapter_model.safetensors")
        for t in adapter.tensorNames {
            let values = UnsafeBufferPointer(start: adapter.parameters.baseAddress! + t.offset, count: t.shape.reduce(1, *))
            #expect(Array(values) == tensors[t.name]!.values, "\(t.name)")
        }
        // The wrong model shape is refused.
        var wrong = smol
        wrong.numHiddenLayers = 3
        #expect(throws: AdapterError.self) { try PEFTAdapter.load(directory: dir, modelConfig: wrong) }
    }

    @Test func halfPrecisionAdapterFilesLoad() throws {
        let adapter = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4, targets: [.v]), modelConfig: Self.config, seed: 3)
        let dir = TestPaths.temporaryDirectory("leandpo-peft")
        try PEFTAdapter.save(adapter, directory: dir, baseModel: "tiny/llama")
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
            try writeRawSafetensors(dir + "/adapter_model.safetensors", header: header, body: body)
            let loaded = try PEFTAdapter.load(directory: dir, modelConfig: Self.config)
            let expected = adapter.parameterArray().map { dtype == "F16" ? halfToFloat(floatToHalf($0)) : bf16ToFloat(floatToBF16($0)) }
            #expect(loaded.parameterArray() == expected, "\(dtype)")
        }
    }

    // MARK: - Refusals

    @Test func unsupportedPEFTConfigsAreRefused() throws {
        let (dir, _, original) = try Self.savedAdapter()
        let path = dir + "/adapter_config.json"
        let cases: [(String, String, String)] = [
            ("\"use_dora\": false", "\"use_dora\": true", "DoRA"),
            ("\"bias\": \"none\"", "\"bias\": \"all\"", "bias"),
            ("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 4}", "rank_pattern"),
            ("\"target_modules\": [", "\"target_modules\": [\"lm_head\", ", "lm_head"),
            ("\"r\": 2", "\"r\": 0", "rank"),
        ]
        for (from, to, word) in cases {
            #expect(original.contains(from), "\(from)")
            try original.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
            expectError(path, word) { _ = try PEFTAdapter.load(directory: dir, modelConfig: Self.config) }
        }
        // A tensor of the wrong shape names the tensor.
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        let narrower = try LoRAAdapter(config: LoRAConfig(r: 2, alpha: 4), modelConfig: Self.narrower, seed: 3)
        try PEFTAdapter.save(narrower, directory: dir, baseModel: "tiny/narrow")
        expectError("adapter_model.safetensors", "tensor base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight has shape [2, 16]") {
            _ = try PEFTAdapter.load(directory: dir, modelConfig: Self.config)
        }
    }

    /// Values of the wrong type were coerced (`lora_alpha: "32"` became 8, `r: 4.7` became 4): now each is
    /// one line naming the file and the key.
    @Test(arguments: [
        ("\"lora_alpha\": 4", "\"lora_alpha\": \"32\"", "lora_alpha must be a number, got the string \"32\""),
        ("\"r\": 2", "\"r\": 4.7", "r must be an integer, got 4.7"),
        ("\"r\": 2", "\"r\": \"2\"", "r must be an integer, got the string \"2\""),
        ("\"lora_dropout\": 0.0", "\"lora_dropout\": \"0.1\"", "lora_dropout must be a number"),
        ("\"use_rslora\": false", "\"use_rslora\": \"true\"", "use_rslora must be true or false"),
        ("\"use_dora\": false", "\"use_dora\": 1", "use_dora must be true or false"),
        ("\"target_modules\": [", "\"target_modules\": [1, ", "target_modules must list strings"),
    ])
    func configValuesOfTheWrongTypeAreErrors(from: String, to: String, message: String) throws {
        let (dir, _, original) = try Self.savedAdapter()
        #expect(original.contains(from), "\(from)")
        try original.replacingOccurrences(of: from, with: to).write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
        expectError(dir + "/adapter_config.json: " + message) { _ = try PEFTAdapter.load(directory: dir, modelConfig: Self.config) }
    }

    /// `r: 4096` on a large model used to allocate ~80 GB of zeros before the shapes were compared; the
    /// header's shapes are compared first, so this answers at once.
    @Test func aHugeRankIsRefusedBeforeAllocating() throws {
        let (dir, _, original) = try Self.savedAdapter()
        try original.replacingOccurrences(of: "\"r\": 2", with: "\"r\": 4096").write(
            toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
        expectError("adapter_model.safetensors", "r=4096 on this model needs [4096, 8192]") {
            _ = try PEFTAdapter.load(directory: dir, modelConfig: hugeConfig)
        }
    }

    /// Shapes whose element count overflows Int are a format error, not a trap.
    @Test func overflowingShapesAreRefused() throws {
        let (dir, _, _) = try Self.savedAdapter()
        let name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        try writeRawSafetensors(
            dir + "/adapter_model.safetensors",
            header: "{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}")
        expectError("adapter_model.safetensors", "tensor \(name): shape [4294967296, 4294967296] overflows") {
            _ = try PEFTAdapter.load(directory: dir, modelConfig: Self.config)
        }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteAdaptersAreRefused(value: Float) throws {
        let adapter = try ExportDriverTests.makeAdapter()
        let e = adapter.entry(layer: 1, target: .v)!
        adapter.b(e)[5] = value
        let dir = TestPaths.temporaryDirectory("leandpo-peft")
        try PEFTAdapter.save(adapter, directory: dir, baseModel: "tiny/llama")
        expectError(
            "adapter_model.safetensors: tensor base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight holds",
            value.isNaN ? "NaN" : "an infinity", "element 5 (row 1, column 1)"
        ) {
            _ = try PEFTAdapter.load(directory: dir, modelConfig: Self.config)
        }
    }
}
