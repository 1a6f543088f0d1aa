// What an adapter source or export refuses (one line each, nothing written): a checkpoint claiming a rank
// its values do not have, non-finite adapters, an export onto the base itself; and what a saved adapter
// directory holds: PEFT files, tokenizer files and a model card naming a real base or a clear placeholder.

import Adapters
import Foundation
import JSON
import Model
import ModelFiles
import TensorFile
import TestSupport
import Testing
import Training

extension ExportDriverTests {
    // MARK: - Checkpoints

    /// A checkpoint claiming r = 4096 on a model far too large to allocate for is refused by comparing
    /// counts first (it used to allocate the adapter, then compare).
    @Test func aCheckpointWithAHugeRankIsRefusedBeforeAllocating() throws {
        expectError("ckpt: bad checkpoint manifest: adapter has 12 parameters, r=4096 on this base needs") {
            _ = try CheckpointAdapter.make(
                config: LoRAConfig(r: 4096, alpha: 8), parameters: [Float](repeating: 0, count: 12), modelConfig: hugeConfig, path: "ckpt")
        }
    }

    /// NaN or infinity in a checkpoint or PEFT adapter: every command that loads one refuses it.
    @Test func nonFiniteAdaptersAreRefusedByEveryExport() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        let adapter = try Self.makeAdapter()
        let e = adapter.entry(layer: 0, target: .gate)!
        adapter.a(e)[3] = .infinity
        try Self.writeCheckpoint(adapter, fingerprint: base.fingerprint, to: s.file("ckpt"))
        try PEFTAdapter.save(adapter, directory: s.file("peft"), baseModel: "tiny/llama")
        let name = "base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight"
        for source in ["ckpt", "peft"] {
            for (out, format) in [("m.mtf", ExportFormat?.none), ("hf", nil), ("m.gguf", nil), ("p", .peft)] {
                expectError("tensor \(name) holds an infinity at element 3") {
                    _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file(source), output: s.file(out), format: format))
                }
            }
            expectError(s.file(source), "tensor \(name) holds an infinity") { _ = try AdapterSource.load(s.file(source), base: base) }
        }
        #expect(s.listing == ["base.mtf", "ckpt", "peft"])
    }

    // MARK: - The base is never an output

    /// `--to` the base model itself (same path, another spelling, a hard link, a directory holding it) is
    /// refused even with --force, and the base is left as it was.
    @Test func exportingOntoTheBaseIsRefused() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: base.fingerprint, to: s.file("ckpt"))
        try FileManager.default.linkItem(atPath: s.file("base.mtf"), toPath: s.file("link.mtf"))
        let before = try Data(contentsOf: URL(fileURLWithPath: s.file("base.mtf")))
        for (out, format) in [("base.mtf", ExportFormat?.none), ("./base.mtf", nil), ("link.mtf", nil), ("base.mtf", .mtf)] {
            expectError("is the base model being exported", "even --force never replaces an input") {
                _ = try ModelExport.run(
                    ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.path + "/" + out, format: format, force: true))
            }
        }
        expectError("holds the base model being exported") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: nil, output: s.path, format: .hf, force: true))
        }
        expectError("is the adapter being exported") {
            _ = try ModelExport.run(
                ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("ckpt"), format: .peft, force: true))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.file("base.mtf"))) == before)
        #expect(s.listing == ["base.mtf", "ckpt", "link.mtf"])
    }

    // MARK: - Saved adapter directories

    @Test func aSavedAdapterHasTokenizerFilesAndAModelCard() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        let run = RunSummary(
            arguments: RunSummary.rows(of: TrainArguments(model: "base.mtf", data: "pairs.jsonl", output: "out")), data: "pairs.jsonl",
            evalData: "held.jsonl", steps: 30, metrics: [("loss", 0.25), ("rewards/accuracies", 0.875)], evalMetrics: [("eval_loss", 0.5)])
        let files = try SavedAdapter.write(Self.makeAdapter(), to: s.file("adapter"), baseFile: base, run: run)
        #expect(
            files == [
                "README.md", "adapter_config.json", "adapter_model.safetensors", "chat_template.jinja", "tokenizer.json", "tokenizer_config.json",
            ])
        // The base records no origin: a placeholder, never null or a file name, and the card says how to set it.
        let config = try JSONValue.read(s.file("adapter/adapter_config.json"))
        #expect(config["base_model_name_or_path"]?.string == BaseModelName.placeholder)
        let card = try String(contentsOfFile: s.file("adapter/README.md"), encoding: .utf8)
        for part in [
            "library_name: peft", "set `base_model_name_or_path` in `adapter_config.json`", "data: `pairs.jsonl`, held out: `held.jsonl`",
            "steps: 30", "| `lora_r` | `16` |", "| `loss` | 0.25 |", "| `eval_loss` | 0.5 |",
            "PeftModel.from_pretrained(base, \"\(s.file("adapter"))\")",
            "leandpo export --model base.mtf --adapter \(s.file("adapter")) --to merged.gguf",
        ] {
            #expect(card.contains(part), "\(part)")
        }
        #expect(!card.contains("base_model:"))
        var notes: [String] = []
        let (tokenizer, template) = try HFTokenizer.load(directory: s.file("adapter"), config: Self.config, notes: &notes)
        #expect(tokenizer == base.metadata.tokenizer && template == base.metadata.chatTemplate)
    }

    /// A base whose origin was recorded at convert (`--base-model`, an HF directory, a GGUF's source
    /// repository) carries it into adapter_config.json and the card's front matter.
    @Test func aRecordedOriginBecomesBaseModelNameOrPath() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        let source = try MTFModelSource(file: base)
        try Converter.convert(source: source, to: s.file("named.mtf"), dtype: .f32, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct", progress: nil)
        let named = try MappedTensorFile(path: s.file("named.mtf"))
        #expect(named.fingerprint == base.fingerprint)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: base.fingerprint, to: s.file("ckpt"))
        _ = try ModelExport.run(ExportRequest(model: s.file("named.mtf"), adapter: s.file("ckpt"), output: s.file("p"), format: .peft))
        let config = try JSONValue.read(s.file("p/adapter_config.json"))
        #expect(config["base_model_name_or_path"]?.string == "HuggingFaceTB/SmolLM2-135M-Instruct")
        let card = try String(contentsOfFile: s.file("p/README.md"), encoding: .utf8)
        #expect(card.contains("base_model: HuggingFaceTB/SmolLM2-135M-Instruct") && card.contains("AutoPeftModelForCausalLM"))
        // An export of that base keeps the origin.
        _ = try ModelExport.run(ExportRequest(model: s.file("named.mtf"), adapter: nil, output: s.file("copy.mtf")))
        #expect(try MappedTensorFile(path: s.file("copy.mtf")).metadata.provenance.baseModel == "HuggingFaceTB/SmolLM2-135M-Instruct")
    }
}
