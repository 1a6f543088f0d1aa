// Where `--adapter` may point: a checkpoint file, a PEFT adapter directory, or a training output
// directory (its latest checkpoint, else its adapter/ directory). Checkpoints carry the base
// fingerprint and refuse another base; every adapter is checked finite before it is handed out.

import Foundation
import Model
import TensorFile

public enum AdapterSource {
    public static func load(_ path: String, base: MappedTensorFile) throws -> LoRAAdapter {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw AdapterError(path, "no such adapter") }
        if !isDir.boolValue { return try CheckpointAdapter.load(path, base: base) }
        if fm.fileExists(atPath: path + "/" + PEFTAdapter.configFileName) {
            return try PEFTAdapter.load(directory: path, modelConfig: base.config)
        }
        if let latest = CheckpointAdapter.list(directory: path).last { return try load(latest.path, base: base) }
        if fm.fileExists(atPath: path + "/adapter/" + PEFTAdapter.configFileName) { return try load(path + "/adapter", base: base) }
        throw AdapterError(path, "neither a checkpoint, a PEFT adapter directory, nor a training output directory")
    }
}

// MARK: - Checkpoints

/// The adapter inside a training checkpoint (formats/adapter.md): the trainer's manifest holds much more
/// (arguments, optimizer moments); this reads only what an adapter needs, so Adapters sits below Training.
public enum CheckpointAdapter {
    /// The manifest `kind` of a LoRA DPO training checkpoint.
    public static let kind = "leandpo-lora-dpo"

    /// The part of the trainer's CheckpointState an adapter needs (other keys are ignored).
    struct State: Codable {
        var kind: String
        var baseFingerprint: String
        var lora: LoRAConfig
    }

    /// Reads the adapter of checkpoint `path`, refusing one trained on another base than `base`.
    public static func load(_ path: String, base: MappedTensorFile) throws -> LoRAAdapter {
        let (state, tensors, _) = try CheckpointFile.read(path: path, as: State.self)
        guard state.kind == kind else {
            throw CheckpointError.badManifest(path: path, what: "kind \(state.kind), expected \(kind)")
        }
        guard state.baseFingerprint == base.fingerprint else {
            throw AdapterError(
                path,
                "adapter was trained on base \(state.baseFingerprint), but \(base.path) is \(base.fingerprint) (HINT: use the base it was trained on)"
            )
        }
        guard let lora = tensors["lora"] else { throw CheckpointError.badManifest(path: path, what: "no lora tensor") }
        return try make(config: state.lora, parameters: lora.values, modelConfig: base.config, path: path)
    }

    /// An adapter of `config` for `modelConfig` holding `parameters` (the flat block as a checkpoint
    /// stores it). The count is compared before anything is allocated, and every value must be finite.
    public static func make(config: LoRAConfig, parameters: [Float], modelConfig: ModelConfig, path: String) throws -> LoRAAdapter {
        let plan: (entries: [LoRAAdapter.Entry], parameterCount: Int)
        do { plan = try LoRAAdapter.plan(config: config, modelConfig: modelConfig) } catch { throw AdapterError(path, "\(error)") }
        guard plan.parameterCount == parameters.count else {
            throw CheckpointError.badManifest(
                path: path, what: "adapter has \(parameters.count) parameters, r=\(config.r) on this base needs \(plan.parameterCount)")
        }
        let a = try LoRAAdapter(config: config, modelConfig: modelConfig, seed: 0)
        a.setParameters(parameters)
        try AdapterValues.requireFinite(a, path: path)
        return a
    }

    /// checkpoint-STEP files in `directory`, oldest step first.
    public static func list(directory: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("checkpoint-"), let s = Int(n.dropFirst("checkpoint-".count)) else { return nil }
            return (s, directory + "/" + n)
        }.sorted { $0.0 < $1.0 }
    }
}
