// What a training checkpoint holds (formats/adapter.md): the adapter, AdamW's moments, the step, the
// open logging window, the full arguments, and the base fingerprint and data hash that make a resume
// exact or refuse it. Stored in the CheckpointFile container.

import Adapters
import Foundation
import Model
import TensorFile

public struct CheckpointState: Codable, Sendable {
    public static let kind = CheckpointAdapter.kind
    public var kind: String
    public var leandpoVersion: String
    public var baseFingerprint: String
    /// ReferenceCache.key of the tokenized training pairs: same data, same tokenization.
    public var dataHash: String
    public var arguments: TrainArguments
    public var lora: LoRAConfig
    /// Optimizer steps completed; the next step has this 0-based index.
    public var step: Int
    public var totalSteps: Int
    public var epoch: Double
    public var adamStep: Int
    /// Micro-batch metrics of the logging window that was open when the checkpoint was written.
    public var window: [[String: Double]]
    /// num_tokens so far, Σ of the step losses (train_loss) and the collapse watch's history: absent in
    /// checkpoints written before they existed (read as 0 / a fresh watch).
    public var totalTokens: Int?
    public var lossSum: Double?
    public var collapseWatch: CollapseWatch?
    /// PEFT names and shapes of the adapter tensors, in the flat block's order.
    public var adapterTensors: [AdapterTensorInfo]
    /// ReferenceCache.adapterKey of the reference model's adapter (the frozen `--init-adapter`); absent when
    /// the reference is the base, and in checkpoints written before it existed.
    public var referenceAdapter: String?
}

public struct AdapterTensorInfo: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var offset: Int
}

public struct TrainingCheckpoint: Sendable {
    public static let version = "0.1.0"
    public var state: CheckpointState
    public var parameters: [Float]
    public var optimizerState: AdamW.State
    public var info: CheckpointInfo
    public var path: String

    // MARK: - Write

    static func write(path: String, trainer: Trainer, window: [[String: Double]]) throws -> CheckpointInfo {
        let a = trainer.adapter
        let state = CheckpointState(
            kind: CheckpointState.kind, leandpoVersion: version, baseFingerprint: trainer.model.file.fingerprint,
            dataHash: trainer.dataKey, arguments: trainer.arguments, lora: a.config, step: trainer.step,
            totalSteps: trainer.totalSteps, epoch: trainer.epoch(atStep: trainer.step), adamStep: trainer.optimizer.step,
            window: window, totalTokens: trainer.totalTokens, lossSum: trainer.lossSum, collapseWatch: trainer.collapseWatch,
            adapterTensors: a.tensorNames.map { AdapterTensorInfo(name: $0.name, shape: $0.shape, offset: $0.offset) },
            referenceAdapter: trainer.referenceKey)
        let o = trainer.optimizer.state
        // The adapter and the moments are written from where they live: no copies.
        return try o.m.withUnsafeBufferPointer { m in
            try o.v.withUnsafeBufferPointer { v in
                try CheckpointFile.write(
                    path: path, state: state,
                    sources: [
                        .init(name: "lora", shape: [a.parameterCount], values: UnsafeBufferPointer(a.parameters)),
                        .init(name: "adamw.m", shape: [m.count], values: m),
                        .init(name: "adamw.v", shape: [v.count], values: v),
                    ])
            }
        }
    }

    // MARK: - Read

    public static func read(path: String) throws -> TrainingCheckpoint {
        let (state, tensors, info) = try CheckpointFile.read(path: path, as: CheckpointState.self)
        guard state.kind == CheckpointState.kind else {
            throw CheckpointError.badManifest(path: path, what: "kind \(state.kind), expected \(CheckpointState.kind)")
        }
        guard let p = tensors["lora"], let m = tensors["adamw.m"], let v = tensors["adamw.v"],
            m.values.count == p.values.count, v.values.count == p.values.count
        else {
            throw CheckpointError.badManifest(path: path, what: "missing or mismatched lora / adamw tensors")
        }
        return TrainingCheckpoint(
            state: state, parameters: p.values, optimizerState: AdamW.State(step: state.adamStep, m: m.values, v: v.values),
            info: info, path: path)
    }

    /// Resolves `--resume DIR|CHECKPOINT`: a checkpoint file, or the output directory's latest checkpoint.
    public static func resolve(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TrainerError("\(path): no such checkpoint or directory")
        }
        if !isDir.boolValue { return path }
        guard let latest = list(directory: path).last else { throw TrainerError("\(path): holds no checkpoint-STEP file to resume from") }
        return latest.path
    }

    /// checkpoint-STEP files in `directory`, oldest step first.
    public static func list(directory: String) -> [(step: Int, path: String)] { CheckpointAdapter.list(directory: directory) }

    static func prune(directory: String, keep: Int) {
        let all = list(directory: directory)
        for c in all.dropLast(keep) { try? FileManager.default.removeItem(atPath: c.path) }
    }

    // MARK: - Resume

    func makeAdapter(modelConfig: ModelConfig) throws -> LoRAAdapter {
        try CheckpointAdapter.make(config: state.lora, parameters: parameters, modelConfig: modelConfig, path: path)
    }

    /// Refuses a resume that could not continue exactly, naming the reason; returns the allowed changes
    /// (a longer run, another logging cadence), each as `name old → new`.
    func check(against t: Trainer) throws -> [String] {
        guard state.baseFingerprint == t.model.file.fingerprint else {
            throw TrainerError(
                "\(path): checkpoint was trained on base \(state.baseFingerprint), but \(t.arguments.model) is \(t.model.file.fingerprint)")
        }
        guard state.dataHash == t.dataKey else {
            throw TrainerError(
                "\(path): the training data or its tokenization changed since this checkpoint (--data, --max-length, --truncation-mode)")
        }
        let (refused, changed) = TrainOptions.resumeDifferences(saved: state.arguments, now: t.arguments)
        guard refused.isEmpty else {
            throw TrainerError(
                "\(path): changed arguments would break exact resume: \(refused.joined(separator: ", ")) (give the original values)")
        }
        guard state.referenceAdapter == t.referenceKey else {
            throw TrainerError(
                "\(path): the reference adapter changed since this checkpoint (--init-adapter \(t.arguments.initAdapter ?? "")"
                    + " holds other values than the run started from)")
        }
        guard state.step <= t.totalSteps else {
            throw TrainerError("\(path): checkpoint is at step \(state.step), beyond this run's \(t.totalSteps) steps")
        }
        return changed
    }
}
