// `leandpo train`: LoRA DPO on the mapped base. Options are named after TRL's DPOConfig; the trainer
// reports events and this command prints them, writes metrics.jsonl, and handles interruption.

import ArgumentParser
import Foundation
import JSON
import Model
import TensorFile
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a LoRA adapter with DPO (or a variant) on a preference dataset.",
        usage: "leandpo train --model M.mtf --data pairs.jsonl --output DIR [--config run.yaml] [options]",
        discussion: """
            Options are named after TRL's DPOConfig (written --lora-r here, lora_r in --config and run.json); \
            TRL, PEFT and HF Trainer spellings are accepted too (--learning-rate, per_device_train_batch_size, \
            target_modules, ...). --config FILE (YAML or JSON) fills any option the command line does not give; \
            run.json in an output directory can be fed back as --config unchanged.

            """ + TrainOptions.helpText
    )

    @Option(help: "A YAML or JSON file of options; the command line wins.") var config: String?
    @Option(help: "Resume from a checkpoint file or an output directory (its latest checkpoint).") var resume: String?
    @Flag(help: "Replace a different run already in the output directory.") var overwrite = false
    /// Every training option, parsed through the option table (TrainOption.all): see the discussion above.
    @Argument(parsing: .allUnrecognized, help: .hidden) var options: [String] = []

    /// Defaults, then the config file, then the command line; every problem of a source in one message.
    func arguments() throws -> (TrainArguments, notes: [String]) {
        var layered = TrainArguments()
        var notes: [String] = []
        if let config {
            notes += try TrainOptions.apply(try TrainOptions.loadConfig(path: config), to: &layered, source: config)
        }
        let words = options.map { $0 == "-o" ? "--output" : $0 }
        notes += try TrainOptions.apply(try TrainOptions.parseCommandLine(words), to: &layered, source: "command line", laterWins: true)
        try layered.validate()
        return (layered, notes)
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
            let (args, notes) = try arguments()
            for n in notes { printErr("note: " + n) }
            let file = try openBase(args.model)
            let text = try ModelText(file.metadata)
            let model = try LlamaModel(file: file, threads: args.threads > 0 ? args.threads : nil)
            try prepareOutput(args, fingerprint: file.fingerprint)
            let checkpoint = try resume.map { try TrainingCheckpoint.read(path: TrainingCheckpoint.resolve($0)) }
            let trainer = try Trainer(arguments: args, model: model, context: text.context, resume: checkpoint)
            if let c = checkpoint {
                printErr("resuming from \(c.path) at step \(c.state.step)")
                if !trainer.resumeChanges.isEmpty {
                    printErr(
                        "resume changes: " + trainer.resumeChanges.joined(separator: ", ")
                            + " (the learning-rate schedule is recomputed over \(trainer.totalSteps) steps)")
                }
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
        var logged = ""  // the last logged window's warning signs, shown on the step line
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
                        format: "step %d/%d %@ loss %.4f acc %.2f%@ %.0f tok/s ETA %@", r.step, r.totalSteps,
                        ProgressLine.bar(Double(r.step) / Double(r.totalSteps)), lastLoss, lastAccuracy, logged, rate,
                        ProgressLine.duration(eta)))
            case .log(let values):
                let rate = Double(tokensTimed) / max(1e-9, secondsTimed)
                var all = values
                all.append(("tokens_per_second", rate))
                all.append(("peak_memory_mb", Double(peakResidentBytes()) / 1048576))
                metrics.write(all)
                logged = Self.warningSigns(values)
                if !progress.isTerminal { progress.update(Self.format(values), force: true) }
            case .evaluated(_, let values):
                metrics.write(values.map { ($0.key, $0.value) } + [("step", Double(trainer.step)), ("epoch", trainer.epoch(atStep: trainer.step))])
                progress.message("eval: " + Self.format(values))
            case .saved(let path, let info, let seconds):
                progress.message(
                    String(format: "saved %@ (%@, zstd %.2fx, %.2fs)", path, formatBytes(Int(info.fileBytes)), info.compressionRatio, seconds))
            case .warning(let text):
                progress.message(text)
            case .summary(let values):
                metrics.write(values)
                progress.message(Self.format(values))
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

    /// " logratio c/r -0.012/-0.051 H 1.83": the drift and entropy of a logged window, for the step line.
    static func warningSigns(_ values: [(key: String, value: Double)]) -> String {
        func v(_ k: String) -> Double? { values.first { $0.key == k }?.value }
        var out = ""
        if let c = v(MetricKey.logratioChosen), let r = v(MetricKey.logratioRejected) {
            out += String(format: " logratio c/r %.3f/%.3f", c, r)
        }
        if let kl = v(MetricKey.kl) { out += String(format: " kl %.4f", kl) }
        if let h = v(MetricKey.entropy) { out += String(format: " H %.2f", h) }
        return out
    }

    static func format(_ values: [(key: String, value: Double)]) -> String {
        values.map { k, v in
            k == "step" ? "step \(Int(v))" : "\(k) " + (abs(v) >= 1e-3 || v == 0 ? String(format: "%.4f", v) : String(format: "%.3e", v))
        }.joined(separator: "  ")
    }

    // MARK: - Output directory

    /// run.json: the options under the names `--config` reads (so it can be fed back unchanged), and the
    /// run's identity under `leandpo_run`, which `--config` skips.
    static func runFile(_ args: TrainArguments, fingerprint: String, dataHash: String) -> JSONText {
        guard case .object(var fields) = TrainOptions.encode(args) else { return .null }
        fields.append(
            (
                TrainOptions.runKey,
                .object([
                    ("base_fingerprint", .string(fingerprint)), ("data_hash", .string(dataHash)),
                    ("leandpo_version", .string(TrainingCheckpoint.version)),
                ])
            ))
        return .object(fields)
    }

    /// The base fingerprint and arguments recorded in an output directory's run.json, if readable.
    static func readRunFile(_ path: String) -> (fingerprint: String, arguments: TrainArguments)? {
        guard let data = FileManager.default.contents(atPath: path), let root = try? JSONValue(JSONReader.parse(data, rules: .strict)),
            case .object(var fields) = root, let run = fields.removeValue(forKey: TrainOptions.runKey),
            let fingerprint = run["base_fingerprint"]?.string, let arguments = try? TrainOptions.decode(.object(fields), source: path)
        else { return nil }
        return (fingerprint, arguments)
    }

    /// An output directory that holds a different run (another base or other arguments) is refused unless
    /// --overwrite or --resume is given.
    func prepareOutput(_ args: TrainArguments, fingerprint: String) throws {
        let fm = FileManager.default
        let runPath = args.output + "/run.json"
        if fm.fileExists(atPath: runPath), resume == nil {
            let old = Self.readRunFile(runPath)
            let same =
                old.map { $0.fingerprint == fingerprint && TrainOptions.resumeDifferences(saved: $0.arguments, now: args).refused.isEmpty } ?? false
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
        let w = try AtomicFileWriter(path: args.output + "/run.json")
        try w.write(Array((Self.runFile(args, fingerprint: fingerprint, dataHash: dataHash).rendered() + "\n").utf8))
        try w.commit()
    }

    /// After a resume, lines logged past the checkpoint's step would be logged again: drop them.
    func truncateMetrics(_ path: String, afterStep step: Int) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let o = try? JSONReader.parse(Array(line.utf8), rules: .python), let s = JSONValue(o)["step"]?.double else { return true }
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
