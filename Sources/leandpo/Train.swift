// `leandpo train`: LoRA DPO on the mapped base. Options are named after TRL's DPOConfig; the trainer
// reports events and this command prints them, writes metrics.jsonl, and handles interruption.

import ArgumentParser
import Foundation
import Model
import TensorFile
import Training
import Yams

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a LoRA adapter with DPO (or a variant) on a preference dataset.",
        discussion:
            "Options default to TRL's where TRL has them. --config FILE (YAML or JSON, keys are the option names) fills any option the command line does not give."
    )

    @Option(help: "Base model (MTF).") var model: String?
    @Option(help: "Preference data (JSONL or a JSON array).") var data: String?
    @Option(name: .shortAndLong, help: "Output directory (checkpoints, metrics.jsonl, adapter/).") var output: String?
    @Option(help: "A YAML or JSON file of options; the command line wins.") var config: String?
    @Option(help: "Resume from a checkpoint file or an output directory (its latest checkpoint).") var resume: String?
    @Flag(help: "Replace a different run already in the output directory.") var overwrite = false

    @Option(help: "Held-out preference data.") var evalData: String?
    @Option(help: "Fraction of --data held out for evaluation (seeded).") var evalSplit: Double?
    @Option(help: "Start from a PEFT adapter directory (the reference stays the base).") var initAdapter: String?

    @Option(help: "LoRA targets, comma-separated from q,k,v,o,gate,up,down (default: all).") var loraTargets: String?
    @Option(help: "LoRA rank (default 16).") var loraR: Int?
    @Option(help: "LoRA alpha (default 32).") var loraAlpha: Double?
    @Flag(name: .customLong("rslora"), help: "Scale by alpha/sqrt(r) (rsLoRA).") var rsloraFlag = false
    @Option(help: "LoRA dropout (default 0).") var loraDropout: Double?
    @Option(help: "Seed for adapter init, shuffling and dropout (default 42).") var seed: UInt64?

    @Option(help: "Loss: sigmoid|ipo|hinge|robust|exo_pair|nca_pair|bco_pair|sppo_hard|apo_zero|apo_down|discopop|sft|simpo|orpo, or a comma list.")
    var loss: String?
    @Option(help: "Weights of a comma list of losses.") var lossWeights: String?
    @Option(help: "DPO beta (default 0.1).") var beta: Double?
    @Option(help: "Label smoothing for robust/exo_pair (default 0).") var labelSmoothing: Double?
    @Option(help: "LD-DPO alpha for the tail beyond the shorter completion.") var ldAlpha: Double?
    @Option(help: "SimPO target margin gamma (default 0.5).") var simpoGamma: Double?
    @Option(help: "ORPO lambda (default 0.1).") var orpoLambda: Double?
    @Option(help: "DiscoPOP tau (default 0.05).") var discopopTau: Double?

    @Option(help: "Max tokens of prompt+completion (default 1024).") var maxLength: Int?
    @Option(help: "keep_start (default) or keep_end.") var truncationMode: String?
    @Flag(help: "Skip and count invalid records instead of stopping.") var skipInvalid = false
    @Flag(help: "Keep file order (no shuffling).") var noShuffle = false

    @Option(help: "Learning rate (default 5e-5).") var lr: Double?
    @Option(help: "constant|linear|cosine (default linear).") var lrSchedulerType: String?
    @Option(help: "Warmup steps.") var warmupSteps: Int?
    @Option(help: "Warmup as a fraction of total steps.") var warmupRatio: Double?
    @Option(help: "AdamW beta1 (default 0.9).") var adamBeta1: Double?
    @Option(help: "AdamW beta2 (default 0.999).") var adamBeta2: Double?
    @Option(help: "AdamW epsilon (default 1e-8).") var adamEpsilon: Double?
    @Option(help: "AdamW weight decay (default 0).") var weightDecay: Double?
    @Option(help: "Gradient clipping norm (default 1.0; 0 turns it off).") var maxGradNorm: Double?
    @Option(help: "Pairs per micro-batch (default 4).") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (default 1).") var gradAccum: Int?
    @Option(help: "Epochs (default 1).") var epochs: Double?
    @Option(help: "Optimizer steps (overrides --epochs).") var maxSteps: Int?

    @Option(help: "Log every N steps (default 10).") var loggingSteps: Int?
    @Option(help: "Evaluate every N steps (default: at the end only).") var evalSteps: Int?
    @Option(help: "Save a checkpoint every N steps (default: at the end only).") var saveSteps: Int?
    @Option(help: "Checkpoints to keep (default 2).") var saveTotalLimit: Int?
    @Option(help: "Threads (default: all cores).") var threads: Int?

    var commandLine: TrainOptions {
        var o = TrainOptions()
        o.model = model; o.data = data; o.output = output; o.evalData = evalData; o.evalSplit = evalSplit
        o.initAdapter = initAdapter; o.loraTargets = loraTargets; o.loraR = loraR; o.loraAlpha = loraAlpha
        o.rslora = rsloraFlag ? true : nil; o.loraDropout = loraDropout; o.seed = seed; o.loss = loss
        o.lossWeights = lossWeights; o.beta = beta; o.labelSmoothing = labelSmoothing; o.ldAlpha = ldAlpha
        o.simpoGamma = simpoGamma; o.orpoLambda = orpoLambda; o.discopopTau = discopopTau; o.maxLength = maxLength
        o.truncationMode = truncationMode; o.skipInvalid = skipInvalid ? true : nil; o.noShuffle = noShuffle ? true : nil
        o.lr = lr; o.lrSchedulerType = lrSchedulerType; o.warmupSteps = warmupSteps; o.warmupRatio = warmupRatio
        o.adamBeta1 = adamBeta1; o.adamBeta2 = adamBeta2; o.adamEpsilon = adamEpsilon; o.weightDecay = weightDecay
        o.maxGradNorm = maxGradNorm; o.batchSize = batchSize; o.gradAccum = gradAccum; o.epochs = epochs
        o.maxSteps = maxSteps; o.loggingSteps = loggingSteps; o.evalSteps = evalSteps; o.saveSteps = saveSteps
        o.saveTotalLimit = saveTotalLimit; o.threads = threads
        return o
    }

    /// Defaults, then the config file, then the command line.
    func arguments() throws -> TrainArguments {
        var layered = TrainArguments(model: "", data: "", output: "")
        if let config {
            let options: TrainOptions
            if config.hasSuffix(".yaml") || config.hasSuffix(".yml") {
                guard let text = try? String(contentsOfFile: config, encoding: .utf8) else { throw ArgumentError("\(config): cannot read") }
                let object: Any?
                do { object = try Yams.load(yaml: text) } catch { throw ArgumentError("\(config): not valid YAML (\(error))") }
                guard let dict = object as? [String: Any] else { throw ArgumentError("\(config): the config must be a mapping of option names") }
                options = try TrainOptions.fromDictionary(dict, file: config)
            } else {
                options = try TrainOptions.load(jsonFile: config)
            }
            try options.apply(to: &layered)
        }
        try commandLine.apply(to: &layered)
        if layered.model.isEmpty { throw ArgumentError("--model is required (on the command line or in --config)") }
        if layered.data.isEmpty { throw ArgumentError("--data is required") }
        if layered.output.isEmpty { throw ArgumentError("--output is required") }
        try layered.validate()
        return layered
    }

    /// One line on where the memory goes: the mapped base (file cache, not the process's own memory),
    /// and what the training pass may keep for speed given the room MemoryRoom sees.
    static func memoryPlan(_ model: LlamaModel) -> String {
        let released = model.releasesWeightPages ? " (released after each layer)" : ""
        let room = MemoryRoom.available().map { ", \(formatBytes($0)) free for this process" } ?? ""
        return "memory: base \(formatBytes(Int(model.file.fileSize))) mapped from the file\(released); kept activations up to "
            + "\(formatBytes(model.keptActivationBytes))\(room)"
    }

    func run() throws {
        try reportingErrors {
            let args = try arguments()
            let file = try MappedTensorFile(path: args.model)
            let text = try ModelText(file.metadata)
            let model = try LlamaModel(file: file, threads: args.threads > 0 ? args.threads : nil)
            try prepareOutput(args, fingerprint: file.fingerprint)
            let checkpoint = try resume.map { try TrainingCheckpoint.read(path: TrainingCheckpoint.resolve($0)) }
            let trainer = try Trainer(arguments: args, model: model, context: text.context, resume: checkpoint)
            if let c = checkpoint {
                printErr("resuming from \(c.path) at step \(c.state.step)")
                try truncateMetrics(args.output + "/metrics.jsonl", afterStep: c.state.step)
            } else {
                // A fresh start (a new directory, --overwrite, or the same run that never saved): old lines are stale.
                try? FileManager.default.removeItem(atPath: args.output + "/metrics.jsonl")
            }
            try writeRunFile(args, fingerprint: file.fingerprint, dataHash: trainer.dataKey)
            Signals.install()
            try runLoop(trainer, args)
        }
        if Signals.interrupted { throw ExitCode(Signals.exitCode) }
    }

    // MARK: - The loop's consumer

    func runLoop(_ trainer: Trainer, _ args: TrainArguments) throws {
        let progress = ProgressLine()
        let metrics = try MetricsLog(path: args.output + "/metrics.jsonl")
        var start = Date()
        var stepsTimed = 0
        var tokensTimed = 0
        var secondsTimed = 0.0
        var lastLoss = Double.nan
        var lastAccuracy = Double.nan
        try trainer.run { event in
            switch event {
            case .started(let train, let eval, let total, let startStep, let percent):
                progress.message(train.description)
                if let eval { progress.message("eval: " + eval.description) }
                progress.message(
                    String(
                        format: "training %d steps from step %d, %d pairs per step, %.3f%% of parameters trainable", total, startStep,
                        args.batchSize * args.gradAccum, percent))
                progress.message(Self.memoryPlan(trainer.model))
                start = Date()
            case .reference(let done, let total, let cached):
                if cached {
                    progress.message("reference log-probs: \(total) pairs loaded from the cache")
                } else {
                    progress.update(
                        "reference log-probs \(ProgressLine.bar(Double(done) / Double(total))) \(done)/\(total) pairs", force: done == total)
                    if done == total { progress.finish() }
                }
            case .step(let r):
                stepsTimed += 1
                tokensTimed += r.tokens
                secondsTimed += r.seconds
                lastLoss = r.loss
                lastAccuracy = r.rewardAccuracy
                let rate = Double(tokensTimed) / max(1e-9, secondsTimed)
                let eta = Double(r.totalSteps - r.step) * secondsTimed / Double(stepsTimed)
                progress.update(
                    String(
                        format: "step %d/%d %@ loss %.4f acc %.2f %.0f tok/s ETA %@", r.step, r.totalSteps,
                        ProgressLine.bar(Double(r.step) / Double(r.totalSteps)), lastLoss, lastAccuracy, rate, ProgressLine.duration(eta)))
            case .log(let values):
                let rate = Double(tokensTimed) / max(1e-9, secondsTimed)
                var all = values
                all.append(("tokens_per_second", rate))
                all.append(("peak_memory_mb", Double(peakResidentBytes()) / 1048576))
                metrics.write(all)
                if !progress.isTerminal { progress.update(Self.format(values), force: true) }
            case .evaluated(_, let values):
                metrics.write(values.map { ($0.key, $0.value) } + [("step", Double(trainer.step)), ("epoch", trainer.epoch(atStep: trainer.step))])
                progress.message("eval: " + Self.format(values))
            case .saved(let path, let info, let seconds):
                progress.message(
                    String(format: "saved %@ (%@, zstd %.2fx, %.2fs)", path, formatBytes(Int(info.fileBytes)), info.compressionRatio, seconds))
            case .finished(let step):
                progress.finish()
                progress.message(
                    String(
                        format: "done: %d steps in %@, adapter in %@/adapter, metrics in %@/metrics.jsonl, peak RSS %@",
                        step, ProgressLine.duration(Date().timeIntervalSince(start)), args.output, args.output, formatBytes(peakResidentBytes())))
            }
            return Signals.interrupted ? .stop : .more
        }
        if Signals.interrupted {
            progress.finish()
            if let e = try trainer.saveIfNeeded(), case .saved(let path, _, _) = e {
                progress.message("interrupted: saved \(path); resume with --resume \(args.output)")
            } else {
                progress.message("interrupted at step \(trainer.step); nothing new to save")
            }
        }
    }

    static func format(_ values: [(key: String, value: Double)]) -> String {
        values.map { k, v in
            k == "step" ? "step \(Int(v))" : "\(k) " + (abs(v) >= 1e-3 || v == 0 ? String(format: "%.4f", v) : String(format: "%.3e", v))
        }.joined(separator: "  ")
    }

    // MARK: - Output directory

    struct RunFile: Codable {
        var baseFingerprint: String
        var dataHash: String?
        var arguments: TrainArguments
    }

    /// An output directory that holds a different run (another base or other arguments) is refused unless
    /// --overwrite or --resume is given.
    func prepareOutput(_ args: TrainArguments, fingerprint: String) throws {
        let fm = FileManager.default
        let runPath = args.output + "/run.json"
        if fm.fileExists(atPath: runPath), resume == nil {
            let old = try? JSONDecoder().decode(RunFile.self, from: Data(contentsOf: URL(fileURLWithPath: runPath)))
            let same = old.map { $0.baseFingerprint == fingerprint && $0.arguments.exactnessDifferences(from: args).isEmpty } ?? false
            if !same || !TrainingCheckpoint.list(directory: args.output).isEmpty {
                guard overwrite else {
                    throw ArgumentError(
                        "\(args.output) already holds a training run; give --resume \(args.output) to continue it, --overwrite to replace it, or another --output"
                    )
                }
                for c in TrainingCheckpoint.list(directory: args.output) { try fm.removeItem(atPath: c.path) }
                try? fm.removeItem(atPath: args.output + "/metrics.jsonl")
                try? fm.removeItem(atPath: args.output + "/adapter")
            }
        }
        try fm.createDirectory(atPath: args.output, withIntermediateDirectories: true)
    }

    func writeRunFile(_ args: TrainArguments, fingerprint: String, dataHash: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        let w = try AtomicFileWriter(path: args.output + "/run.json")
        try w.write([UInt8](try e.encode(RunFile(baseFingerprint: fingerprint, dataHash: dataHash, arguments: args))))
        try w.commit()
    }

    /// After a resume, lines logged past the checkpoint's step would be logged again: drop them.
    func truncateMetrics(_ path: String, afterStep step: Int) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let d = line.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any],
                let s = o["step"] as? Double
            else { return true }
            return Int(s) <= step
        }
        let w = try AtomicFileWriter(path: path)
        try w.write(Array((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
        try w.commit()
    }
}

/// metrics.jsonl: one JSON object per logged step, appended and flushed as it happens.
final class MetricsLog {
    let handle: FileHandle

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw ArgumentError("\(path): cannot open for writing") }
        h.seekToEndOfFile()
        handle = h
    }

    func write(_ values: [(String, Double)]) {
        var parts: [String] = []
        for (k, v) in values {
            let number = (k == "step") ? String(Int(v)) : (v.isFinite ? "\(v)" : "null")
            parts.append("\"\(k)\":\(number)")
        }
        handle.write(Data(("{" + parts.joined(separator: ",") + "}\n").utf8))
    }
}
