// `leandpo train`: LoRA DPO on the mapped base. Options are named after TRL's DPOConfig; the trainer
// reports events and this command prints them, writes metrics.jsonl, and handles interruption.

import ArgumentParser
import Foundation
import JSON
import Model
import Reports
import TensorFile
import Training

#if canImport(Glibc)
    import Glibc
#endif

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
        var lock: DirectoryLock?
        try reportingErrors {
            let group = try Launch.group()
            var (requested, notes) = try arguments()
            let isWriter = (group?.rank ?? 0) == 0
            if isWriter { for n in notes { printErr("note: " + n) } }
            // With N processes grad-accum is per process; the run (and its checkpoints) records the global count.
            if let group { requested.gradAccum *= group.size }
            let file = try openBase(requested.model)
            let text = try ModelText(file: file)
            let model = try LlamaModel(file: file, threads: requested.threads > 0 ? requested.threads : nil)
            if let note = model.setComputeDType(requested.computeDType), isWriter { printErr(note) }
            // Every input (data, eval data, --init-adapter) is read and validated before the output
            // directory is created, locked or changed.
            let inputs = try TrainerInputs.load(arguments: requested, model: model, context: text.context)
            let args = inputs.effectiveArguments(requested)
            let overridden = inputs.overriddenOptions(requested)
            if isWriter, !overridden.isEmpty {
                printErr("note: training --init-adapter's own shape: \(overridden.joined(separator: ", ")) (recorded in run.json)")
            }
            var stale: [String] = []
            if isWriter {
                let prepared = try prepareOutput(args, fingerprint: file.fingerprint)
                (lock, stale) = (prepared.0, prepared.stale)
            }
            let checkpoint = try resume.map { try TrainingCheckpoint.read(path: TrainingCheckpoint.resolve($0)) }
            let trainer = try Trainer(arguments: args, model: model, inputs: inputs, resume: checkpoint, group: group)
            if let group {
                try DataParallel.agree(file.fingerprint, what: "base model (fingerprint)", group: group)
                try DataParallel.agree(trainer.dataKey, what: "training data (hash of the tokenized pairs)", group: group)
                try DataParallel.agree(trainer.referenceKey ?? "base", what: "reference model (the --init-adapter's values)", group: group)
                try DataParallel.agree(Self.exactArguments(args), what: "set of training arguments", group: group)
                if isWriter { printErr("data parallel: \(group.size) processes, \(args.gradAccum / group.size) micro-batches each per step") }
            }
            // Deleting comes last: only a run that has validated everything replaces an old one.
            for path in stale { try FileManager.default.removeItem(atPath: path) }
            if let c = checkpoint, isWriter {
                printErr("resuming from \(c.path) at step \(c.state.step)")
                if !trainer.resumeChanges.isEmpty {
                    printErr(
                        "resume changes: " + trainer.resumeChanges.joined(separator: ", ")
                            + " (the learning-rate schedule is recomputed over \(trainer.totalSteps) steps)")
                }
                try truncateMetrics(args.output + "/metrics.jsonl", afterStep: c.state.step)
            } else if isWriter {
                // A fresh start (a new directory, --overwrite, or the same run that never saved): old lines are stale.
                try? FileManager.default.removeItem(atPath: args.output + "/metrics.jsonl")
            }
            if isWriter { try writeRunFile(args, fingerprint: file.fingerprint, dataHash: trainer.dataKey) }
            Signals.install()
            let startStep = trainer.step
            var seconds = 0.0
            if isWriter {
                seconds = try runLoop(trainer, args)
            } else {
                try followLoop(trainer)
            }
            if isWriter, trainer.step > startStep {
                printErr(String(format: "step time: %.2f s per optimizer step (reference pass excluded)", seconds / Double(trainer.step - startStep)))
            }
            if let c = Launch.communication(group), isWriter, trainer.step > startStep {
                let steps = Double(trainer.step - startStep)
                printErr(
                    String(
                        format: "communication: %.2f MB per step sent by rank 0; %.2f s in MPI calls per %.2f s step (%.1f%%)",
                        Double(c.bytes) / steps / 1e6, c.seconds / steps, seconds / steps, 100 * c.seconds / max(seconds, 1e-9)))
            }
        }
        withExtendedLifetime(lock) {}
        if Signals.interrupted { throw ExitCode(Signals.exitCode) }
    }

    /// The options every process of a data-parallel run must share, as text (paths, threads and the memory
    /// budget may differ).
    static func exactArguments(_ args: TrainArguments) -> String {
        var a = args
        (a.model, a.data, a.output, a.evalData, a.threads, a.memoryBudget) = ("", "", "", nil, 0, nil)
        return TrainOptions.encode(a).rendered(indent: nil)
    }

    /// A rank other than 0: trains its share, takes part in the collectives, prints and writes nothing.
    func followLoop(_ trainer: Trainer) throws {
        try trainer.run { event in
            if case .log = event, let group = trainer.group {
                _ = try? DataParallel.gatherRows([["peak": Double(peakResidentBytes())]], group: group)
            }
            return Signals.interrupted ? .stop : .more
        }
    }

    // MARK: - The loop's consumer

    /// Consumes the trainer's events; returns the seconds its optimizer steps took (reference pass excluded).
    @discardableResult
    func runLoop(_ trainer: Trainer, _ args: TrainArguments) throws -> Double {
        let progress = ProgressLine()
        // metrics.jsonl always; TensorBoard event files too with --report-to tensorboard. A failed write (a
        // full disk) stops the run with its error; the checkpoints already written stay as they are.
        var logs: [any MetricsSink] = [try MetricsLog(path: args.output + "/metrics.jsonl")]
        if args.reportTo.contains(.tensorboard) { logs.append(try TensorBoardLog(directory: args.output)) }
        var logError: Error?
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
                // KTO has no pairs to rank: its short figure is the batch's KL estimate.
                let (name, value) = r.kl.map { ("kl", $0) } ?? ("acc", lastAccuracy)
                progress.update(
                    String(
                        format: "step %d/%d %@ loss %.4f %@ %.2f%@ %.0f tok/s ETA %@", r.step, r.totalSteps,
                        ProgressLine.bar(Double(r.step) / Double(r.totalSteps)), lastLoss, name, value, logged, rate, ProgressLine.duration(eta)))
            case .log(let values):
                let rate = Double(tokensTimed) / max(1e-9, secondsTimed)
                var all = values
                all.append(("tokens_per_second", rate))
                // The largest peak over the processes of a data-parallel run.
                var peak = Double(peakResidentBytes())
                if let group = trainer.group, let rows = try? DataParallel.gatherRows([["peak": peak]], group: group) {
                    peak = rows.compactMap { $0["peak"] }.max() ?? peak
                }
                all.append(("peak_memory_mb", peak / 1048576))
                do { for log in logs { try log.write(all) } } catch {
                    logError = error
                    return .stop
                }
                logged = Self.warningSigns(values)
                if !progress.isTerminal { progress.update(Self.format(values), force: true) }
            case .evaluated(_, let values):
                let row = values.map { ($0.key, $0.value) } + [("step", Double(trainer.step)), ("epoch", trainer.epoch(atStep: trainer.step))]
                do { for log in logs { try log.write(row) } } catch {
                    logError = error
                    return .stop
                }
                progress.message("eval: " + Self.format(values))
            case .saved(let path, let info, let seconds):
                progress.message(
                    String(format: "saved %@ (%@, zstd %.2fx, %.2fs)", path, formatBytes(Int(info.fileBytes)), info.compressionRatio, seconds))
            case .warning(let text):
                progress.message(text)
            case .summary(let values):
                do { for log in logs { try log.write(values) } } catch {
                    logError = error
                    return .stop
                }
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
        if let logError { throw logError }
        if Signals.interrupted {
            progress.finish()
            if let e = try trainer.saveIfNeeded(), case .saved(let path, _, _) = e {
                progress.message("interrupted: saved \(path); resume with --resume \(args.output)")
            } else {
                progress.message("interrupted at step \(trainer.step); nothing new to save")
            }
        }
        return secondsTimed
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

    /// Creates the output directory if needed and takes its lock (before anything in it is read), then
    /// decides whether this run may use it: a directory holding a different run (another base or other
    /// arguments), or files that are not a run, is refused unless --overwrite or --resume is given.
    /// Returns the lock, held until the process ends, and the old run's files to delete once the
    /// trainer is built (nothing is deleted here).
    func prepareOutput(_ args: TrainArguments, fingerprint: String) throws -> (DirectoryLock, stale: [String]) {
        let fm = FileManager.default
        try DirectoryLock.makeDirectories(args.output)
        let lock = try DirectoryLock(directory: args.output)
        let runPath = args.output + "/run.json"
        var stale: [String] = []
        if resume == nil {
            if fm.fileExists(atPath: runPath) {
                let old = Self.readRunFile(runPath)
                let same =
                    old.map { $0.fingerprint == fingerprint && TrainOptions.resumeDifferences(saved: $0.arguments, now: args).refused.isEmpty }
                    ?? false
                if !same || !TrainingCheckpoint.list(directory: args.output).isEmpty {
                    guard overwrite else {
                        throw ArgumentError(
                            "\(args.output) already holds a training run; give --resume \(args.output) to continue it, --overwrite to replace it, or another --output"
                        )
                    }
                    stale = TrainingCheckpoint.list(directory: args.output).map(\.path)
                    for name in ["metrics.jsonl", "adapter"] where fm.fileExists(atPath: args.output + "/" + name) {
                        stale.append(args.output + "/" + name)
                    }
                }
            } else {
                let others = ((try? fm.contentsOfDirectory(atPath: args.output)) ?? []).filter { $0 != DirectoryLock.fileName }
                if !others.isEmpty, !overwrite {
                    throw ArgumentError(
                        "\(args.output) holds files that are not a training run (\(others.sorted().prefix(3).joined(separator: ", "))\(others.count > 3 ? ", …" : "")); choose another --output or give --overwrite to write the run among them"
                    )
                }
            }
        }
        return (lock, stale)
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
            // A line that does not parse is a partial write (a full disk): drop it too.
            guard let o = try? JSONReader.parse(Array(line.utf8), rules: .python), let s = JSONValue(o)["step"]?.double else { return false }
            return Int(s) <= step
        }
        let w = try AtomicFileWriter(path: path)
        try w.write(Array((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8))
        try w.commit()
    }
}
