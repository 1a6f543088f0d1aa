// `leandpo export` as ModelExport.run: adapters from checkpoints, PEFT directories and training output
// directories; merged MTF equal to base + adapter; PEFT export → import → export byte-identical; an
// adapter for another base, an existing target without --force and an unwritable output each refused
// with one line and nothing left behind.

import Adapters
import Foundation
import Model
import SeededRandom
import TensorFile
import TestSupport
import Testing
import Training

@Suite(.serialized) struct ExportDriverTests {
    // MARK: - Fixtures

    static let config = ModelConfig(
        architecture: .llama, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2,
        rmsNormEps: 1e-6, ropeTheta: 10_000, maxPositionEmbeddings: 128, vocabSize: 41, tieWordEmbeddings: true, bosTokenId: 1,
        eosTokenIds: [2])

    /// A tiny random base; a different `seed` gives a different fingerprint.
    static func writeBase(_ path: String, seed: UInt64) throws -> MappedTensorFile {
        var rng = Xoshiro256(seed: seed)
        let metadata = MTFMetadata(
            config: config,
            tokenizer: TokenizerData(
                preTokenizer: "gpt2", vocab: ["<s>", "<|im_start|>", "<|im_end|>"] + (3..<41).map { "t\($0)" }, merges: [],
                addedTokens: [
                    AddedToken(id: 0, content: "<s>"), AddedToken(id: 1, content: "<|im_start|>"), AddedToken(id: 2, content: "<|im_end|>"),
                ],
                bosToken: "<|im_start|>", eosToken: "<|im_end|>"),
            chatTemplate: "{{ messages }}",
            provenance: Provenance(sourceFormat: "test", sourceName: "base", sourceXxh64: "0000000000000000", converter: "t", converterVersion: "1"))
        let specs = config.requiredTensors.map { TensorSpec(name: $0.name, dtype: .f32, shape: $0.shape) }
        let w = try MTFWriter(path: path, metadata: metadata, tensors: specs)
        for s in specs {
            let n = s.shape.reduce(1, *)
            let center: Float = s.name.hasSuffix("norm.weight") ? 1 : 0
            try w.write(name: s.name, floats: (0..<n).map { _ in center + 0.3 * (2 * rng.nextUnitFloat() - 1) })
        }
        try w.finish()
        return try MappedTensorFile(path: path)
    }

    /// An adapter with random A and B.
    static func makeAdapter(rslora: Bool = false, seed: UInt64 = 4) throws -> LoRAAdapter {
        let a = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8, rslora: rslora, dropout: 0.05), modelConfig: config, seed: seed)
        var rng = Xoshiro256(seed: seed + 1)
        for e in a.entries { for i in 0..<(e.outFeatures * 4) { a.b(e)[i] = 0.3 * (2 * rng.nextUnitFloat() - 1) } }
        return a
    }

    /// The checkpoint manifest's state, field for field as CheckpointState encodes it.
    struct State: Codable {
        struct Tensor: Codable {
            var name: String
            var shape: [Int]
            var offset: Int
        }
        var kind = "leandpo-lora-dpo"
        var leandpoVersion = "0.1.0"
        var baseFingerprint: String
        var dataHash = "0000000000000000"
        var arguments: TrainArguments
        var lora: LoRAConfig
        var step = 2
        var totalSteps = 2
        var epoch = 1.0
        var adamStep = 2
        var window: [[String: Double]] = []
        var adapterTensors: [Tensor]
    }

    /// Writes `adapter` as a training checkpoint of a run on a base with `fingerprint`.
    static func writeCheckpoint(_ adapter: LoRAAdapter, fingerprint: String, to path: String) throws {
        let p = adapter.parameterArray()
        let state = State(
            baseFingerprint: fingerprint, arguments: TrainArguments(model: "base.mtf", data: "d.jsonl", output: "out"), lora: adapter.config,
            adapterTensors: adapter.tensorNames.map { State.Tensor(name: $0.name, shape: $0.shape, offset: $0.offset) })
        try CheckpointFile.write(
            path: path, state: state,
            tensors: [
                CheckpointTensor(name: "lora", shape: [p.count], values: p),
                CheckpointTensor(name: "adamw.m", shape: [p.count], values: [Float](repeating: 0, count: p.count)),
                CheckpointTensor(name: "adamw.v", shape: [p.count], values: [Float](repeating: 0, count: p.count)),
            ])
    }

    final class Scratch {
        let path = TestPaths.temporaryDirectory("export-driver")
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func file(_ n: String) -> String { path + "/" + n }
        var listing: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    }

    // MARK: - Merged exports

    @Test func mergedMTFEqualsBasePlusAdapter() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        let adapter = try Self.makeAdapter()
        try Self.writeCheckpoint(adapter, fingerprint: base.fingerprint, to: s.file("checkpoint-2"))
        let r = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("checkpoint-2"), output: s.file("merged.mtf")))
        #expect(r.format == .mtf && r.dtype == .f32 && r.merged == adapter.entries.count)
        #expect(s.listing == ["base.mtf", "checkpoint-2", "merged.mtf"])

        let model = try LlamaModel(file: base, threads: 2)
        let merged = try LlamaModel(path: s.file("merged.mtf"), threads: 2)
        #expect(merged.file.fingerprint == r.fingerprint && merged.file.metadata.provenance.sourceFormat == "mtf")
        #expect(merged.file.metadata.provenance.sourceName == "base.mtf")
        let batch = PackedBatch(sequences: [[1, 5, 9, 30, 2, 7, 11], [1, 40, 3, 3]])
        let rows = Array(0..<batch.tokenCount)
        let want = try model.logits(batch: batch, rows: rows, adapter: adapter)
        #expect(maxAbsDiff(try merged.logits(batch: batch, rows: rows), want) <= 1e-4)
        #expect(maxAbsDiff(try model.logits(batch: batch, rows: rows), want) > 1e-2)
    }

    /// hf and gguf through the driver, from a training output directory (its latest checkpoint wins).
    @Test func directoryAndGGUFExportsFromAnOutputDirectory() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try FileManager.default.createDirectory(atPath: s.file("run"), withIntermediateDirectories: false)
        try Self.writeCheckpoint(Self.makeAdapter(seed: 1), fingerprint: "ffffffffffffffff", to: s.file("run/checkpoint-1"))
        try Self.writeCheckpoint(Self.makeAdapter(seed: 2), fingerprint: base.fingerprint, to: s.file("run/checkpoint-2"))
        let hf = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("run"), output: s.file("hf"), dtype: .bf16))
        #expect(hf.format == .hf && hf.merged == 14)
        #expect(
            ((try? FileManager.default.contentsOfDirectory(atPath: s.file("hf"))) ?? []).sorted() == [
                "chat_template.jinja", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            ])
        let gguf = try ModelExport.run(
            ExportRequest(model: s.file("base.mtf"), adapter: s.file("run/"), output: s.file("m.gguf"), dtype: .q8_0))
        #expect(gguf.format == .gguf && gguf.tensors == 2 + 9 * 2 && gguf.notes.isEmpty)
        #expect(s.listing == ["base.mtf", "hf", "m.gguf", "run"])
    }

    // MARK: - PEFT

    @Test(arguments: [false, true])
    func peftExportImportExportIsByteIdentical(rslora: Bool) throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        let adapter = try Self.makeAdapter(rslora: rslora)
        try Self.writeCheckpoint(adapter, fingerprint: base.fingerprint, to: s.file("ckpt"))
        let first = try ModelExport.run(
            ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("peft1"), format: .peft))
        #expect(first.tensors == 2 * adapter.entries.count && first.merged == 0)
        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("peft1"), output: s.file("peft2"), format: .peft))
        for name in [PEFTAdapter.configFileName, PEFTAdapter.weightsFileName] {
            let a = try Data(contentsOf: URL(fileURLWithPath: s.file("peft1/" + name)))
            let b = try Data(contentsOf: URL(fileURLWithPath: s.file("peft2/" + name)))
            #expect(a == b, "\(name)")
        }
        let config = try String(contentsOfFile: s.file("peft1/adapter_config.json"), encoding: .utf8)
        #expect(config.contains("\"use_rslora\": \(rslora)") && config.contains("\"lora_alpha\": 8") && config.contains("\"r\": 4"))
        let back = try PEFTAdapter.load(directory: s.file("peft1"), modelConfig: Self.config)
        #expect(back.parameterArray() == adapter.parameterArray() && back.config == adapter.config)
        #expect(s.listing == ["base.mtf", "ckpt", "peft1", "peft2"])

        // A merged export from the PEFT directory equals the one from the checkpoint.
        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("a.mtf")))
        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("peft2"), output: s.file("b.mtf")))
        #expect(try MappedTensorFile(path: s.file("a.mtf")).fingerprint == MappedTensorFile(path: s.file("b.mtf")).fingerprint)
    }

    // MARK: - Refusals

    @Test func adapterForAnotherBaseIsRefused() throws {
        let s = Scratch()
        let other = try Self.writeBase(s.file("other.mtf"), seed: 2)
        _ = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: other.fingerprint, to: s.file("ckpt"))
        for (out, format) in [("m.mtf", ExportFormat?.none), ("hf", nil), ("m.gguf", nil), ("p", .peft)] {
            expectError("ckpt: adapter was trained on base \(other.fingerprint)", "HINT: use the base it was trained on") {
                _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file(out), format: format))
            }
        }
        #expect(s.listing == ["base.mtf", "ckpt", "other.mtf"])
    }

    @Test func existingTargetNeedsForce() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: base.fingerprint, to: s.file("ckpt"))
        try "old".write(toFile: s.file("m.mtf"), atomically: false, encoding: .utf8)
        expectError("m.mtf: already exists (HINT: add --force to replace it)") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("m.mtf")))
        }
        #expect(try String(contentsOfFile: s.file("m.mtf"), encoding: .utf8) == "old")
        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("m.mtf"), force: true))
        #expect(try MappedTensorFile(path: s.file("m.mtf")).tensors.count == base.tensors.count)

        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("p"), format: .peft))
        expectError("p: already exists") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("p"), format: .peft))
        }
        _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("p"), format: .peft, force: true))
        // --force never replaces a directory that is not an earlier export of the same kind.
        expectError("does not look like an earlier export") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file("p"), format: .hf, force: true))
        }
        #expect(s.listing == ["base.mtf", "ckpt", "m.mtf", "p"])
    }

    @Test func unwritableOutputIsRefused() throws {
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: base.fingerprint, to: s.file("ckpt"))
        for out in ["ckpt/m.mtf", "nowhere/m.gguf", "ckpt/hf", "nowhere/p"] {
            expectError("is not an existing directory") {
                _ = try ModelExport.run(
                    ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file(out), format: out.hasSuffix("/p") ? .peft : nil))
            }
        }
        #expect(s.listing == ["base.mtf", "ckpt"])
    }

    /// Cancelling between tensors (the CLI's Ctrl-C) stops every format with nothing left behind.
    @Test func cancellationLeavesNothing() throws {
        final class Counter: @unchecked Sendable { var n = 0 }
        let s = Scratch()
        let base = try Self.writeBase(s.file("base.mtf"), seed: 1)
        try Self.writeCheckpoint(Self.makeAdapter(), fingerprint: base.fingerprint, to: s.file("ckpt"))
        for out in ["m.mtf", "hf", "m.gguf"] {
            let calls = Counter()
            expectError("export interrupted; nothing was written to \(s.file(out))") {
                _ = try ModelExport.run(
                    ExportRequest(model: s.file("base.mtf"), adapter: s.file("ckpt"), output: s.file(out)) {
                        calls.n += 1
                        return calls.n > 6
                    })
            }
            #expect(calls.n == 7, "\(out)")
        }
        #expect(s.listing == ["base.mtf", "ckpt"])
    }

    @Test func formatAndDTypeChoices() throws {
        let s = Scratch()
        try FileManager.default.createDirectory(atPath: s.file("existing.dir"), withIntermediateDirectories: false)
        #expect(try ModelExport.format(for: "a/b.mtf", explicit: nil) == .mtf)
        #expect(try ModelExport.format(for: "b.GGUF", explicit: nil) == .gguf)
        #expect(try ModelExport.format(for: "out/merged", explicit: nil) == .hf)
        #expect(try ModelExport.format(for: "out/merged.v2/", explicit: nil) == .hf)
        #expect(try ModelExport.format(for: s.file("existing.dir"), explicit: nil) == .hf)
        #expect(try ModelExport.format(for: "out/adapter", explicit: .peft) == .peft)
        #expect(try ModelExport.format(for: "model.bin", explicit: .gguf) == .gguf)
        expectError("cannot tell the export format from --to model.bin") { _ = try ModelExport.format(for: "model.bin", explicit: nil) }
        expectError("ends in .gguf but --format is hf") { _ = try ModelExport.format(for: "x.gguf", explicit: .hf) }

        _ = try Self.writeBase(s.file("base.mtf"), seed: 1)
        expectError("--format peft exports an adapter; give --adapter") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: nil, output: s.file("p"), format: .peft))
        }
        expectError("--dtype q8_0 is not available for hf (f32, bf16, f16)") {
            _ = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: nil, output: s.file("hf"), dtype: .q8_0))
        }
        // Without an adapter the base itself is exported.
        let r = try ModelExport.run(ExportRequest(model: s.file("base.mtf"), adapter: nil, output: s.file("copy.mtf")))
        let baseFingerprint = try MappedTensorFile(path: s.file("base.mtf")).fingerprint
        #expect(r.merged == 0 && r.fingerprint == baseFingerprint)
        #expect(s.listing == ["base.mtf", "copy.mtf", "existing.dir"])
    }
}
